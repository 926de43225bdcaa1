// bake's Worker: owns ONE wasm module and ONE engine (one block cache) for the page.
// It blocks in synchronous XHR while a query runs, so it cannot read messages then; the
// page cancels a query by terminating this Worker and starting a fresh one.
let bake = null;

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  try {
    if (op === "init") {
      const glue = await import(args.glue);
      await glue.default({ module_or_path: args.wasm });
      const response = await fetch(args.manifest);
      if (!response.ok) throw new Error(`cannot load the data manifest (${response.status})`);
      bake = new glue.Bake(await response.text(), "", args.cacheMiB || 64);
      self.postMessage({ id, ok: true, result: { sql: bake.has_sql() }, stats: null });
      return;
    }
    if (!bake) throw new Error("the query engine is not ready");
    const started = performance.now();
    let answer;
    if (op === "search") {
      answer = bake.search(args.query, JSON.stringify(args.options || {}), args.budget || 0);
    } else if (op === "sql") {
      if (!bake.has_sql()) throw new Error("this module has no SQL; the page must start the SQL module");
      answer = bake.sql(args.db, args.sql, JSON.stringify(args.params ?? null), args.maxRows || 10000, args.budget || 0);
    } else {
      throw new Error(`unknown operation ${op}`);
    }
    const parsed = JSON.parse(answer);
    parsed.stats.ms = Math.round(performance.now() - started);
    self.postMessage({ id, ok: true, result: parsed.result, stats: parsed.stats });
  } catch (error) {
    self.postMessage({ id, ok: false, error: String((error && error.message) || error) });
  }
};
