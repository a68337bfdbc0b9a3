// Client-side sorting of loaded table rows by a column, toggled by clicking the header.
import { useMemo, useState } from "react";

export type Dir = "asc" | "desc";

export function useSort<T, K extends string>(rows: T[], initial: K, value: (row: T, key: K) => string | number | null, initialDir: Dir = "asc") {
  const [key, setKey] = useState<K>(initial);
  const [dir, setDir] = useState<Dir>(initialDir);
  const sorted = useMemo(() => {
    const copy = [...rows];
    copy.sort((a, b) => {
      const x = value(a, key);
      const y = value(b, key);
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return dir === "asc" ? cmp : -cmp;
    });
    return copy;
    // `value` is a pure accessor defined inline by callers (a new function every render), so
    // only the rows, key and direction decide when to sort again.
  }, [rows, key, dir]);
  const toggle = (next: K) => {
    if (next === key) setDir(dir === "asc" ? "desc" : "asc");
    else {
      setKey(next);
      setDir("asc");
    }
  };
  return { sorted, key, dir, toggle };
}
