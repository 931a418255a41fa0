"""One reader of the warehouse through a Python duckdb of the side virtualenvs (stdlib and
duckdb only). Opens the file read-only and prints {"ready": true, "version": ...}; then for
each line it reads (a JSON list of queries) prints one line: for each query {"columns",
"rows"} or {"error"}, all on the one connection. Closes it at the end of its input.
"""

import json
import sys

import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
print(json.dumps({"ready": True, "version": duckdb.__version__}), flush=True)
for line in sys.stdin:
    results = []
    for sql in json.loads(line):
        try:
            cursor = con.execute(sql)
            columns = [column[0] for column in cursor.description]
            rows = [list(row) for row in cursor.fetchall()]
            results.append({"columns": columns, "rows": rows})
        except duckdb.Error as exc:
            results.append({"error": str(exc)})
    print(json.dumps(results, default=str), flush=True)
con.close()
