// One reader of the warehouse through @duckdb/node-api (what Evidence and other Node tools
// use), with the protocol of tests/readers/read.py: opens the file read-only and prints
// {"ready": true, "version": ...}; then for each line it reads (a JSON list of queries)
// prints one line: for each query {"columns", "rows"} or {"error"}, all on the one
// connection. Closes it at the end of its input.
import { DuckDBInstance, version } from "@duckdb/node-api";
import { createInterface } from "node:readline";

const instance = await DuckDBInstance.create(process.argv[2], { access_mode: "READ_ONLY" });
const connection = await instance.connect();
console.log(JSON.stringify({ ready: true, version: version() }));
for await (const line of createInterface({ input: process.stdin })) {
  const results = [];
  for (const sql of JSON.parse(line)) {
    try {
      const reader = await connection.runAndReadAll(sql);
      results.push({ columns: reader.columnNames(), rows: reader.getRowsJson() });
    } catch (error) {
      results.push({ error: String(error?.message ?? error) });
    }
  }
  console.log(JSON.stringify(results));
}
connection.closeSync();
