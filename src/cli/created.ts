import fs from "node:fs";
import path from "node:path";

/**
 * Notes which of a SQLite database's files (the database, its WAL, shared-memory and journal files) and
 * folders exist now, so that a service that fails to start (its port is taken, say) can remove what its
 * own start created, and leave no empty database behind; files that were there before are kept.
 */
export function trackCreation(db: string): { undo(): void } {
  const files = ["", "-wal", "-shm", "-journal"].map((suffix) => `${db}${suffix}`);
  const existed = new Set(files.filter((f) => fs.existsSync(f)));
  const dirs: string[] = [];
  for (let dir = path.dirname(path.resolve(db)); !fs.existsSync(dir); dir = path.dirname(dir)) dirs.push(dir);
  return {
    undo() {
      for (const file of files) if (!existed.has(file)) fs.rmSync(file, { force: true });
      for (const dir of dirs) {
        if (fs.existsSync(dir) && fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
      }
    },
  };
}
