/**
 * ts-rs renders Rust's i64/u64 as `bigint`, but Tauri ships JSON, so at run time those fields
 * arrive (and must be sent) as plain numbers. `Wire<T>` is the generated type `T` with every
 * `bigint` replaced by `number`: the shape stays the generated one, only the scalar changes.
 */
export type Wire<T> = T extends bigint
  ? number
  : T extends (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T;
