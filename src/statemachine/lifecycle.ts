/**
 * A lifecycle binds a state machine (the table, from `model.ts`) to the entity type that carries it: the
 * entity table holding the versioned state, its `<entity>_state_history` table, its
 * `<entity>_controller_queue` table and its NOTIFY channel. Everything that reads or writes lifecycle
 * state (store, controller, routes, migration helper) derives the names from here, so they cannot drift.
 */
import { NAME_PATTERN, type StateMachine, type StateShape } from "./model.ts";

export interface LifecycleTableNames {
  /** The entity table; it has `id uuid PRIMARY KEY` and the state columns. */
  readonly table: string;
  readonly historyTable: string;
  readonly queueTable: string;
  /** LISTEN/NOTIFY channel that wakes the entity's controllers. */
  readonly channel: string;
}

export interface Lifecycle<S extends StateShape, E extends string = string> extends LifecycleTableNames {
  /** snake_case singular name of the entity type, e.g. `vetting_run`. */
  readonly entity: string;
  readonly states: StateMachine<S, E>;
}

/** Names of the tables and channel of an entity type; `table` defaults to the plural `<entity>s`. */
export function lifecycleTableNames(entity: string, table?: string): LifecycleTableNames {
  if (!NAME_PATTERN.test(entity) || entity.length > 40) {
    throw new Error(`entity name ${JSON.stringify(entity)} must be snake_case, at most 40 characters`);
  }
  const entityTable = table ?? `${entity}s`;
  if (!NAME_PATTERN.test(entityTable))
    throw new Error(`table name ${JSON.stringify(entityTable)} must be snake_case`);
  return {
    table: entityTable,
    historyTable: `${entity}_state_history`,
    queueTable: `${entity}_controller_queue`,
    channel: `ingot_controller_${entity}`,
  };
}

export function defineLifecycle<S extends StateShape, E extends string>(options: {
  readonly entity: string;
  readonly table?: string;
  readonly states: StateMachine<S, E>;
}): Lifecycle<S, E> {
  return {
    entity: options.entity,
    states: options.states,
    ...lifecycleTableNames(options.entity, options.table),
  };
}
