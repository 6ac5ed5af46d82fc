/**
 * Renders a transition table as a Mermaid state diagram for the docs: initial states come from `[*]`,
 * terminal states go to `[*]`, every allowed transition is an edge labelled with its event, and states
 * with an SLA carry a note.
 */
import type { StateMachine, StateShape } from "./model.ts";

export function renderMermaid<S extends StateShape, E extends string>(machine: StateMachine<S, E>): string {
  const lines = ["stateDiagram-v2"];
  for (const kind of machine.initial) lines.push(`  [*] --> ${kind}`);
  for (const edge of machine.edges) lines.push(`  ${edge.from} --> ${edge.to}: ${edge.event}`);
  for (const kind of machine.terminal) lines.push(`  ${kind} --> [*]`);
  for (const kind of machine.states) {
    const sla = machine.slaSeconds(kind);
    if (sla !== undefined) lines.push(`  note right of ${kind}: SLA ${formatDuration(sla)}`);
  }
  return `${lines.join("\n")}\n`;
}

function formatDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
