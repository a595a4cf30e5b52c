'use strict';
// Everything outside infra/ that infra must agree with: host.json, <function>/function.json,
// local.settings.sample.json, the Go sources, azure.yaml.

const fs = require('node:fs');
const path = require('node:path');

function readJson(abs) {
  return JSON.parse(fs.readFileSync(abs, 'utf8'));
}

// { value, error } so a broken file is reported by a check instead of crashing the run.
function tryJson(abs) {
  if (!fs.existsSync(abs)) return { missing: true };
  try {
    return { value: readJson(abs) };
  } catch (e) {
    return { error: e.message };
  }
}

// Function folders at the app root: <dir>/function.json.
function functionJsons(root) {
  const out = [];
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.') || e.name === 'node_modules') continue;
    const p = path.join(root, e.name, 'function.json');
    if (fs.existsSync(p)) out.push({ rel: `${e.name}/function.json`, ...tryJson(p) });
  }
  return out.sort((a, b) => a.rel.localeCompare(b.rel));
}

// Setting names the Go code reads, from non-test sources (internal/, cmd/ and standin/ may be missing or incomplete
// while the code is being written):
//   * any "PURGE_…" string literal anywhere under internal/, cmd/ and standin/ (the stand-ins set the handler's
//     settings, e.g. the local stack's shortened retry timings);
//   * os.Getenv("X") / os.LookupEnv("X") literals and constants named Env… = "X" (the config package's table of
//     setting names), but only in code that is part of the deployed handler: cmd/handler/ and internal/ (the local
//     stand-ins under standin/ read settings of their own and are never deployed).
function goSettings(root) {
  const found = new Map(); // name -> Set(rel files)
  const add = (name, rel) => {
    if (!found.has(name)) found.set(name, new Set());
    found.get(name).add(rel);
  };
  const deployed = (rel) => rel.startsWith('cmd/handler/') || rel.startsWith('internal/');
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === 'testdata' || e.name.startsWith('.')) continue;
        walk(p);
      } else if (e.name.endsWith('.go') && !e.name.endsWith('_test.go')) {
        const rel = path.relative(root, p).split(path.sep).join('/');
        const text = fs.readFileSync(p, 'utf8');
        for (const m of text.matchAll(/["`](PURGE_[A-Z0-9_]*[A-Z0-9])["`]/g)) add(m[1], rel);
        if (!deployed(rel)) continue;
        for (const m of text.matchAll(/\b(?:Getenv|LookupEnv)\(\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*\)/g)) add(m[1], rel);
        for (const m of text.matchAll(/\bEnv[A-Za-z0-9]*\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"/g)) {
          // Only values shaped like setting names (ENV_STYLE or Prefix__suffix), not e.g. EnvDev = "dev".
          if (/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(m[1]) || m[1].includes('__')) add(m[1], rel);
        }
      }
    }
  };
  walk(path.join(root, 'internal'));
  walk(path.join(root, 'cmd'));
  walk(path.join(root, 'standin'));
  return found;
}

// A small YAML reader, enough for azure.yaml: block mappings and sequences, plain/quoted scalars, comments.
function parseYaml(text) {
  const lines = [];
  for (const raw of text.split(/\r?\n/)) {
    const noComment = stripComment(raw);
    if (!noComment.trim()) continue;
    lines.push({ indent: noComment.match(/^ */)[0].length, text: noComment.trim() });
  }
  let i = 0;
  function scalar(s) {
    s = s.trim();
    if (/^'.*'$/.test(s)) return s.slice(1, -1).replace(/''/g, "'");
    if (/^".*"$/.test(s)) return JSON.parse(s);
    if (s === 'true') return true;
    if (s === 'false') return false;
    if (s === 'null' || s === '~' || s === '') return null;
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    return s;
  }
  function block(indent) {
    if (i >= lines.length || lines[i].indent < indent) return null;
    const ind = lines[i].indent;
    if (lines[i].text.startsWith('- ') || lines[i].text === '-') {
      const arr = [];
      while (i < lines.length && lines[i].indent === ind && (lines[i].text.startsWith('- ') || lines[i].text === '-')) {
        const rest = lines[i].text.slice(1).trim();
        if (!rest) {
          i++;
          arr.push(block(ind + 1));
        } else if (/^[^'"][^:]*:(\s|$)/.test(rest)) {
          // "- key: value" starts a mapping whose keys sit at ind + 2
          lines[i] = { indent: ind + 2, text: rest };
          arr.push(block(ind + 2));
        } else {
          i++;
          arr.push(scalar(rest));
        }
      }
      return arr;
    }
    const obj = {};
    while (i < lines.length && lines[i].indent === ind && !lines[i].text.startsWith('- ')) {
      const m = /^("[^"]*"|'[^']*'|[^:]+?):(?:\s+(.*))?$/.exec(lines[i].text);
      if (!m) throw new Error(`azure.yaml: cannot read line "${lines[i].text}"`);
      const key = scalar(m[1]);
      const rest = m[2] !== undefined ? m[2].trim() : '';
      i++;
      if (rest === '|' || rest === '>' || rest === '|-' || rest === '>-') {
        const parts = [];
        while (i < lines.length && lines[i].indent > ind) parts.push(lines[i++].text);
        obj[key] = parts.join(rest.startsWith('|') ? '\n' : ' ');
      } else if (rest) {
        obj[key] = scalar(rest);
      } else if (i < lines.length && lines[i].indent > ind) {
        obj[key] = block(lines[i].indent);
      } else if (i < lines.length && lines[i].indent === ind && lines[i].text.startsWith('- ')) {
        obj[key] = block(ind);
      } else {
        obj[key] = null;
      }
    }
    return obj;
  }
  return block(0) || {};
}

function stripComment(line) {
  let q = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === q) q = null;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s:\-\[{,]/.test(line[i - 1])) q = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i);
    }
  }
  return line;
}

// Go-style durations ("45s", "1m30s", "0", "7d") and ISO 8601 durations ("PT1M", "P14D") in seconds.
function goDurationSeconds(s) {
  if (typeof s !== 'string') return NaN;
  const t = s.trim();
  if (t === '0') return 0;
  const d = /^(\d+)d$/.exec(t);
  if (d) return Number(d[1]) * 86400;
  let total = 0;
  let rest = t;
  const unit = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6, 'µs': 1e-6, ns: 1e-9 };
  const re = /^(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/;
  if (!rest) return NaN;
  while (rest) {
    const m = re.exec(rest);
    if (!m) return NaN;
    total += Number(m[1]) * unit[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

function isoDurationSeconds(s) {
  if (typeof s !== 'string') return NaN;
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(s.trim());
  if (!m || s.trim() === 'P' || s.trim().endsWith('T')) return NaN;
  return (Number(m[1] || 0) * 86400) + (Number(m[2] || 0) * 3600) + (Number(m[3] || 0) * 60) + Number(m[4] || 0);
}

// host.json functionTimeout "hh:mm:ss" (or "d.hh:mm:ss").
function timespanSeconds(s) {
  if (typeof s !== 'string') return NaN;
  const m = /^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(s.trim());
  if (!m) return NaN;
  return Number(m[1] || 0) * 86400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

module.exports = { readJson, tryJson, functionJsons, goSettings, parseYaml, goDurationSeconds, isoDurationSeconds, timespanSeconds };
