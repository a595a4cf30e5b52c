'use strict';
// Bicep reading for the infra checks: tree-sitter-bicep parse, a small AST, and a partial evaluator.
//
// The evaluator knows literals, parameters (defaults, or the value a calling module passes), variables, string
// interpolation, the operators, and the handful of ARM functions the templates use. Anything only known at deploy
// time (resource properties, guid(), runtime outputs) evaluates to UNKNOWN. Checks then look at the structure
// instead: which symbol a property refers to, which function builds it.

const fs = require('node:fs');
const path = require('node:path');
const Parser = require('tree-sitter');
const BicepLanguage = require('tree-sitter-bicep');

const UNKNOWN = Symbol('unknown');

let parser;
function getParser() {
  if (!parser) {
    parser = new Parser();
    parser.setLanguage(BicepLanguage);
  }
  return parser;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------

// The grammar predates the `extension` keyword (docs/azure.md §12.2): blank those lines, keeping offsets and line numbers.
function blankExtensionLines(src) {
  const extensions = [];
  const blanked = src.replace(/^[ \t]*extension[ \t]+([^\s]+).*$/gm, (line, alias) => {
    extensions.push(alias.replace(/^'|'$/g, ''));
    return ' '.repeat(line.length);
  });
  return { blanked, extensions };
}

function syntaxProblems(tree, src, rel) {
  const problems = [];
  const walk = (n) => {
    if (n.type === 'ERROR' || n.isMissing) {
      const p = n.startPosition;
      const near = src.slice(n.startIndex, Math.min(n.endIndex, n.startIndex + 40)).replace(/\s+/g, ' ').trim();
      const region = src.slice(n.startIndex, n.endIndex);
      const hint = region.includes('...') ? ' (the spread operator ... cannot be checked offline; use union())' : '';
      problems.push(
        n.isMissing
          ? `${rel}:${p.row + 1}:${p.column + 1}: syntax error: missing ${n.type}`
          : `${rel}:${p.row + 1}:${p.column + 1}: syntax error near "${near}"${hint}`,
      );
      if (n.type === 'ERROR') return; // one message per error region
    }
    for (let i = 0; i < n.childCount; i++) walk(n.child(i));
  };
  walk(tree.rootNode);
  return problems;
}

function isExtra(n) {
  return n.type === 'comment' || n.type === 'diagnostic_comment';
}
function named(n) {
  return n.namedChildren.filter((c) => !isExtra(c));
}

// ---------------------------------------------------------------------------------------------------------------
// AST
// ---------------------------------------------------------------------------------------------------------------

const ESCAPES = { "\\'": "'", '\\\\': '\\', '\\n': '\n', '\\r': '\r', '\\t': '\t', '\\$': '$' };

function decodeEscape(text) {
  if (ESCAPES[text] !== undefined) return ESCAPES[text];
  const m = /^\\u\{([0-9a-fA-F]+)\}$/.exec(text);
  return m ? String.fromCodePoint(parseInt(m[1], 16)) : text;
}

// tree-sitter-bicep 1.1.0 binds member access, indexing and binary operators oddly around a left operand that is a
// binary/unary/ternary expression or a lambda ("a && b.c" comes out as "(a && b).c"; "x => x.v == r" as
// "((x => x).v) == r"). Re-associate so the AST means what Bicep means.
function reassociate(node, rebuild) {
  const obj = node.obj;
  if (obj && obj.k === 'lambda') return { ...obj, body: reassociate({ ...node, obj: obj.body }, rebuild) };
  if (obj && obj.k === 'bin') return { ...obj, r: reassociate({ ...node, obj: obj.r }, rebuild) };
  if (obj && obj.k === 'un') return { ...obj, arg: reassociate({ ...node, obj: obj.arg }, rebuild) };
  if (obj && obj.k === 'tern') return { ...obj, f: reassociate({ ...node, obj: obj.f }, rebuild) };
  return rebuild(node);
}

function liftLambdaLeft(bin) {
  if (bin.l && bin.l.k === 'lambda') {
    return { ...bin.l, body: liftLambdaLeft({ ...bin, l: bin.l.body }) };
  }
  return bin;
}

function toAst(n) {
  if (!n) return { k: 'none' };
  const at = { row: n.startPosition.row + 1, col: n.startPosition.column + 1 };
  switch (n.type) {
    case 'string': {
      const parts = [];
      for (let i = 0; i < n.childCount; i++) {
        const c = n.child(i);
        if (c.type === 'string_content') parts.push(c.text);
        else if (c.type === 'escape_sequence') parts.push(decodeEscape(c.text));
        else if (c.type === 'interpolation') parts.push(toAst(named(c)[0]));
      }
      const merged = [];
      for (const p of parts) {
        if (typeof p === 'string' && typeof merged[merged.length - 1] === 'string') merged[merged.length - 1] += p;
        else merged.push(p);
      }
      return { k: 'str', parts: merged, at, text: n.text };
    }
    case 'number':
      return { k: 'num', v: Number(n.text), at };
    case 'boolean':
      return { k: 'bool', v: n.text === 'true', at };
    case 'null':
      return { k: 'null', at };
    case 'identifier':
    case 'compatible_identifier':
    case 'property_identifier':
      return { k: 'id', name: n.text, at };
    case 'parenthesized_expression':
      return toAst(named(n)[0]);
    case 'member_expression': {
      const obj = toAst(n.childForFieldName('object'));
      const prop = n.childForFieldName('property');
      const safe = n.children.some((c) => c.type === '.?' || c.text === '.?');
      return reassociate({ k: 'member', obj, prop: prop ? prop.text : '', safe, at }, (x) => x);
    }
    case 'subscript_expression': {
      const obj = toAst(n.childForFieldName('object'));
      const index = toAst(n.childForFieldName('index'));
      const safe = n.children.some((c) => c.type === '?');
      return reassociate({ k: 'index', obj, index, safe, at }, (x) => x);
    }
    case 'call_expression': {
      const fnNode = n.childForFieldName('function');
      const argsNode = n.childForFieldName('arguments');
      const fn = toAst(fnNode);
      const args = argsNode ? named(argsNode).map(toAst) : [];
      let name = '';
      if (fn.k === 'id') name = fn.name;
      else if (fn.k === 'member' && fn.obj.k === 'id') name = `${fn.obj.name}.${fn.prop}`; // az.x(), sys.x()
      return { k: 'call', name, fn, args, at };
    }
    case 'array':
      return { k: 'arr', items: named(n).map(toAst), at };
    case 'object': {
      const props = [];
      const resources = [];
      for (const c of named(n)) {
        if (c.type !== 'object_property') continue;
        const kids = named(c);
        if (kids.length === 1 && kids[0].type === 'resource_declaration') {
          resources.push(kids[0]);
          continue;
        }
        const keyNode = kids[0];
        const key = keyNode.type === 'string' ? toAst(keyNode) : { k: 'str', parts: [keyNode.text], at };
        props.push({ key, keyText: keyNode.type === 'string' ? stringLiteral(toAst(keyNode)) : keyNode.text, value: toAst(kids[kids.length - 1]), at: { row: c.startPosition.row + 1, col: c.startPosition.column + 1 } });
      }
      return { k: 'obj', props, resources, at };
    }
    case 'binary_expression': {
      const op = n.childForFieldName('operator');
      return liftLambdaLeft({ k: 'bin', op: op ? op.text : '?', l: toAst(n.childForFieldName('left')), r: toAst(n.childForFieldName('right')), at });
    }
    case 'unary_expression': {
      const op = n.childForFieldName('operator');
      return { k: 'un', op: op ? op.text : '?', arg: toAst(n.childForFieldName('argument')), at };
    }
    case 'ternary_expression': {
      const t = { k: 'tern', c: toAst(n.childForFieldName('condition')), t: toAst(n.childForFieldName('consequence')), f: toAst(n.childForFieldName('alternative')), at };
      if (t.c.k === 'lambda') return { ...t.c, body: { ...t, c: t.c.body } };
      return t;
    }
    case 'lambda_expression': {
      const kids = named(n);
      const body = kids[kids.length - 1];
      const params = [];
      for (const c of kids.slice(0, -1)) {
        if (c.type === 'identifier') params.push(c.text);
        else for (const id of c.descendantsOfType('identifier')) params.push(id.text);
      }
      return { k: 'lambda', params, body: toAst(body), at };
    }
    case 'for_statement': {
      const kids = named(n);
      const body = n.childForFieldName('body') || kids[kids.length - 1];
      let item = null;
      let index = null;
      let source = null;
      const params = kids.find((c) => c.type === 'for_loop_parameters');
      if (params) {
        const v = params.descendantsOfType('loop_variable')[0];
        const e = params.descendantsOfType('loop_enumerator')[0];
        item = v ? v.text : null;
        index = e ? e.text : null;
        source = kids[kids.indexOf(params) + 1];
      } else {
        item = kids[0] && kids[0].text;
        source = kids[1];
      }
      return { k: 'for', item, index, source: toAst(source), body: toAst(body), bodyNode: body, at };
    }
    case 'if_statement': {
      const kids = named(n);
      return { k: 'if', cond: toAst(kids[0]), body: toAst(kids[kids.length - 1]), bodyNode: kids[kids.length - 1], at };
    }
    default:
      return { k: 'unknown', type: n.type, text: n.text, at };
  }
}

// The literal text of a string AST without interpolations, else undefined.
function stringLiteral(ast) {
  if (!ast || ast.k !== 'str') return undefined;
  if (ast.parts.some((p) => typeof p !== 'string')) return undefined;
  return ast.parts.join('');
}

// The symbol at the root of a.b.c / a[0].b / a.b(), or null.
function rootSymbol(ast) {
  let a = ast;
  while (a && (a.k === 'member' || a.k === 'index')) a = a.obj;
  return a && a.k === 'id' ? a.name : null;
}

// "identity.properties.principalId" for a member chain, else null.
function memberPath(ast) {
  const parts = [];
  let a = ast;
  while (a && a.k === 'member') {
    parts.unshift(a.prop);
    a = a.obj;
  }
  if (!a || a.k !== 'id') return null;
  parts.unshift(a.name);
  return parts.join('.');
}

// Every call of a given function name anywhere in an AST.
function findCalls(ast, name, out = []) {
  if (!ast || typeof ast !== 'object') return out;
  if (ast.k === 'call' && ast.name === name) out.push(ast);
  for (const v of Object.values(ast)) {
    if (Array.isArray(v)) v.forEach((x) => findCalls(x, name, out));
    else if (v && typeof v === 'object' && v.k) findCalls(v, name, out);
    else if (v && typeof v === 'object' && v.value && v.value.k) findCalls(v.value, name, out);
  }
  if (ast.k === 'obj') ast.props.forEach((p) => findCalls(p.value, name, out));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------------------------

class BicepFile {
  constructor(root, abs) {
    this.abs = abs;
    this.rel = path.relative(root, abs).split(path.sep).join('/');
    this.raw = fs.readFileSync(abs, 'utf8');
    const { blanked, extensions } = blankExtensionLines(this.raw);
    this.src = blanked;
    this.extensions = extensions;
    this.tree = getParser().parse(this.src);
    this.problems = syntaxProblems(this.tree, this.src, this.rel);
    this.targetScope = 'resourceGroup';
    this.params = new Map();
    this.vars = new Map();
    this.resources = [];
    this.modules = [];
    this.outputs = [];
    this.index();
  }

  index() {
    let decorators = [];
    for (const n of named(this.tree.rootNode)) {
      if (n.type === 'decorators') {
        decorators = named(n).map((d) => toAst(named(d)[0]));
        continue;
      }
      const kids = named(n);
      const at = { row: n.startPosition.row + 1, col: n.startPosition.column + 1 };
      switch (n.type) {
        case 'target_scope_assignment':
          this.targetScope = stringLiteral(toAst(kids[0])) || this.targetScope;
          break;
        case 'parameter_declaration': {
          const name = kids[0].text;
          const typeNode = kids[1];
          const def = kids.length > 2 ? toAst(kids[2]) : null;
          this.params.set(name, { name, type: typeNode ? typeNode.text : '', default: def, decorators, at });
          break;
        }
        case 'variable_declaration': {
          const name = kids[0].text;
          this.vars.set(name, { name, value: toAst(kids[kids.length - 1]), at });
          break;
        }
        case 'resource_declaration':
          this.addResource(n, null, decorators);
          break;
        case 'module_declaration': {
          const symbol = kids[0].text;
          const modPath = stringLiteral(toAst(kids[1]));
          const { body, condition, loop } = this.unwrapBody(kids[kids.length - 1]);
          this.modules.push({ symbol, path: modPath, body, condition, loop, at, file: this });
          break;
        }
        case 'output_declaration': {
          const name = kids[0].text;
          this.outputs.push({ name, type: kids[1] ? kids[1].text : '', value: toAst(kids[kids.length - 1]), decorators, at });
          break;
        }
        default:
          break;
      }
      decorators = [];
    }
  }

  unwrapBody(node) {
    const ast = toAst(node);
    if (ast.k === 'if') return { body: ast.body, condition: ast.cond, loop: null };
    if (ast.k === 'for') {
      let body = ast.body;
      let condition = null;
      if (body.k === 'if') {
        condition = body.cond;
        body = body.body;
      }
      return { body, condition, loop: ast };
    }
    return { body: ast, condition: null, loop: null };
  }

  addResource(n, parent, decorators) {
    const kids = named(n);
    const symbol = kids[0].text;
    const typeString = stringLiteral(toAst(kids[1])) || '';
    const existing = n.children.some((c) => c.type === 'existing');
    const { body, condition, loop } = this.unwrapBody(kids[kids.length - 1]);
    let type = typeString.split('@')[0];
    const apiVersion = typeString.includes('@') ? typeString.split('@')[1] : parent ? parent.apiVersion : '';
    if (parent && !type.includes('/')) type = `${parent.type}/${type}`;
    const r = { symbol, type, apiVersion, typeString, existing, body, condition, loop, parent: parent ? parent.symbol : null, decorators, at: { row: n.startPosition.row + 1, col: n.startPosition.column + 1 }, file: this };
    this.resources.push(r);
    if (body && body.k === 'obj') {
      for (const child of body.resources) this.addResource(child, r, []);
    }
    return r;
  }

  resource(symbol) {
    return this.resources.find((r) => r.symbol === symbol) || null;
  }

  resourcesOfType(type) {
    const t = type.toLowerCase();
    return this.resources.filter((r) => r.type.toLowerCase() === t);
  }
}

// Property lookup on an object AST by a dotted path ("properties.functionAppConfig.runtime").
function prop(objAst, dotted) {
  let cur = objAst;
  for (const key of dotted.split('.')) {
    if (!cur || cur.k !== 'obj') return undefined;
    const p = cur.props.find((x) => x.keyText === key);
    if (!p) return undefined;
    cur = p.value;
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------------------------
// Project: all files, module wiring, evaluation
// ---------------------------------------------------------------------------------------------------------------

class Project {
  constructor(root, infraDir, parameterFiles = {}) {
    this.root = root;
    this.infraDir = infraDir;
    this.files = [];
    this.parameterFiles = parameterFiles; // rel path of a bicep file -> parsed parameters JSON
    const walk = (dir) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.bicep')) this.files.push(new BicepFile(root, p));
      }
    };
    if (fs.existsSync(infraDir)) walk(infraDir);
  }

  file(rel) {
    return this.files.find((f) => f.rel === rel) || null;
  }

  allResources() {
    return this.files.flatMap((f) => f.resources);
  }

  // Module declarations (in any file) that deploy `file`.
  callersOf(file) {
    const out = [];
    for (const f of this.files) {
      for (const m of f.modules) {
        if (!m.path) continue;
        const target = path.resolve(path.dirname(f.abs), m.path);
        if (target === file.abs) out.push(m);
      }
    }
    return out;
  }

  // The value a parameter has in a real deployment: what the first calling module passes, else what the
  // parameters file gives (for main.bicep), else the default. UNKNOWN when that is only known at deploy time.
  paramValue(file, name, depth = 0) {
    const p = file.params.get(name);
    if (!p) return UNKNOWN;
    if (depth > 8) return UNKNOWN;
    for (const m of this.callersOf(file)) {
      const passed = prop(prop(m.body, 'params'), name) || undefined;
      if (passed) return this.evaluate(passed, m.file, {}, depth + 1);
    }
    const pf = this.parameterFiles[file.rel];
    if (pf && pf.parameters && Object.prototype.hasOwnProperty.call(pf.parameters, name)) {
      const v = pf.parameters[name].value;
      if (typeof v !== 'string') return v;
      const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?\}$/.exec(v);
      if (!m) return coerce(v, p.type);
      if (m[2] !== undefined) return coerce(m[2], p.type);
      return UNKNOWN;
    }
    return p.default ? this.evaluate(p.default, file, {}, depth + 1) : UNKNOWN;
  }

  evaluate(ast, file, locals = {}, depth = 0) {
    return evaluate(ast, { project: this, file, locals, depth });
  }
}

function coerce(text, type) {
  if (type === 'bool') {
    if (/^true$/i.test(text)) return true;
    if (/^false$/i.test(text)) return false;
  }
  if (type === 'int' && /^-?\d+$/.test(text)) return Number(text);
  return text;
}

function isKnown(v) {
  if (v === UNKNOWN) return false;
  if (Array.isArray(v)) return v.every(isKnown);
  if (v && typeof v === 'object' && (v.__resource || v.__module || v.__moduleOutputs || v.__lambda)) return false;
  if (v && typeof v === 'object') return Object.values(v).every(isKnown);
  return true;
}

const ENVIRONMENT = {
  name: 'AzureCloud',
  resourceManager: 'https://management.azure.com/',
  authentication: { loginEndpoint: 'https://login.microsoftonline.com/', audiences: [] },
  suffixes: { storage: 'core.windows.net' },
};

function armString(v) {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

function evaluate(ast, ctx) {
  const ev = (a, extraLocals) => evaluate(a, extraLocals ? { ...ctx, locals: { ...ctx.locals, ...extraLocals } } : ctx);
  if (!ast) return UNKNOWN;
  switch (ast.k) {
    case 'str': {
      let out = '';
      for (const p of ast.parts) {
        if (typeof p === 'string') out += p;
        else {
          const v = ev(p);
          if (!isKnown(v) || (typeof v === 'object' && v !== null)) return UNKNOWN;
          out += armString(v);
        }
      }
      return out;
    }
    case 'num':
      return ast.v;
    case 'bool':
      return ast.v;
    case 'null':
      return null;
    case 'arr':
      return ast.items.map((i) => ev(i));
    case 'obj': {
      const o = {};
      for (const p of ast.props) {
        const key = p.keyText !== undefined ? p.keyText : ev(p.key);
        if (typeof key !== 'string') continue; // a key known only at deploy time: leave it out
        o[key] = ev(p.value);
      }
      return o;
    }
    case 'id': {
      if (Object.prototype.hasOwnProperty.call(ctx.locals, ast.name)) return ctx.locals[ast.name];
      const f = ctx.file;
      if (f.params.has(ast.name)) return ctx.project.paramValue(f, ast.name, ctx.depth);
      if (f.vars.has(ast.name)) {
        if (ctx.depth > 30) return UNKNOWN;
        return evaluate(f.vars.get(ast.name).value, { ...ctx, locals: {}, depth: ctx.depth + 1 });
      }
      const r = f.resource(ast.name);
      if (r) return { __resource: r };
      const m = f.modules.find((x) => x.symbol === ast.name);
      if (m) return { __module: m };
      return UNKNOWN;
    }
    case 'member': {
      const o = ev(ast.obj);
      if (o && typeof o === 'object' && o.__resource) {
        if (ast.prop === 'name') {
          const n = prop(o.__resource.body, 'name');
          return n ? evaluate(n, { ...ctx, file: o.__resource.file, locals: {} }) : UNKNOWN;
        }
        return UNKNOWN;
      }
      if (o && typeof o === 'object' && o.__module) {
        return ast.prop === 'outputs' ? { __moduleOutputs: o.__module } : UNKNOWN;
      }
      if (o && typeof o === 'object' && o.__moduleOutputs) {
        const m = o.__moduleOutputs;
        if (m.loop || !m.path || ctx.depth > 30) return UNKNOWN;
        const target = ctx.project.files.find((x) => x.abs === path.resolve(path.dirname(m.file.abs), m.path));
        const out = target && target.outputs.find((x) => x.name === ast.prop);
        return out ? evaluate(out.value, { ...ctx, file: target, locals: {}, depth: ctx.depth + 1 }) : UNKNOWN;
      }
      if (o === null && ast.safe) return null;
      if (o && typeof o === 'object' && !Array.isArray(o)) {
        if (Object.prototype.hasOwnProperty.call(o, ast.prop)) return o[ast.prop];
        return ast.safe ? null : UNKNOWN;
      }
      return UNKNOWN;
    }
    case 'index': {
      const o = ev(ast.obj);
      const i = ev(ast.index);
      if (!isKnown(i) || o === UNKNOWN) return UNKNOWN;
      if (Array.isArray(o) && typeof i === 'number') return i < o.length ? o[i] : ast.safe ? null : UNKNOWN;
      if (o && typeof o === 'object' && typeof i === 'string') {
        const key = Object.keys(o).find((k) => k.toLowerCase() === i.toLowerCase());
        return key !== undefined ? o[key] : ast.safe ? null : UNKNOWN;
      }
      return UNKNOWN;
    }
    case 'un': {
      const v = ev(ast.arg);
      if (!isKnown(v)) return UNKNOWN;
      if (ast.op === '!') return !v;
      if (ast.op === '-') return -v;
      return UNKNOWN;
    }
    case 'bin': {
      if (ast.op === '??') {
        const l = ev(ast.l);
        if (l === UNKNOWN) return UNKNOWN;
        return l === null || l === undefined ? ev(ast.r) : l;
      }
      const l = ev(ast.l);
      const r = ev(ast.r);
      if (ast.op === '&&' && l === false) return false;
      if (ast.op === '||' && l === true) return true;
      if (!isKnown(l) || !isKnown(r)) return UNKNOWN;
      switch (ast.op) {
        case '+': return l + r;
        case '-': return l - r;
        case '*': return l * r;
        case '/': return r === 0 ? UNKNOWN : Math.trunc(l / r);
        case '%': return r === 0 ? UNKNOWN : l % r;
        case '==': return l === r;
        case '!=': return l !== r;
        case '=~': return String(l).toLowerCase() === String(r).toLowerCase();
        case '!~': return String(l).toLowerCase() !== String(r).toLowerCase();
        case '<': return l < r;
        case '<=': return l <= r;
        case '>': return l > r;
        case '>=': return l >= r;
        case '&&': return l && r;
        case '||': return l || r;
        default: return UNKNOWN;
      }
    }
    case 'tern': {
      const c = ev(ast.c);
      if (c === true) return ev(ast.t);
      if (c === false) return ev(ast.f);
      return UNKNOWN;
    }
    case 'lambda':
      return { __lambda: ast, ctx };
    case 'call':
      return callFunction(ast, ctx, ev);
    default:
      return UNKNOWN;
  }
}

function applyLambda(fn, args) {
  if (!fn || !fn.__lambda) return UNKNOWN;
  const locals = {};
  fn.__lambda.params.forEach((p, i) => { locals[p] = args[i]; });
  return evaluate(fn.__lambda.body, { ...fn.ctx, locals: { ...fn.ctx.locals, ...locals } });
}

function callFunction(ast, ctx, ev) {
  const name = ast.name.toLowerCase();
  if (name === 'loadjsoncontent' || name === 'loadtextcontent') {
    const rel = ev(ast.args[0]);
    if (typeof rel !== 'string') return UNKNOWN;
    const abs = path.resolve(path.dirname(ctx.file.abs), rel);
    let text;
    try {
      text = fs.readFileSync(abs, 'utf8');
    } catch {
      return UNKNOWN;
    }
    if (name === 'loadtextcontent') return text;
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      return UNKNOWN;
    }
    const jsonPath = ast.args[1] ? ev(ast.args[1]) : undefined;
    if (typeof jsonPath === 'string') {
      for (const part of jsonPath.replace(/^\$\.?/, '').split('.').filter(Boolean)) {
        if (value && typeof value === 'object' && part in value) value = value[part];
        else return UNKNOWN;
      }
    }
    return value;
  }
  if (name === 'environment') return ENVIRONMENT;
  if (name === 'map' || name === 'filter') {
    const arr = ev(ast.args[0]);
    const fn = ev(ast.args[1]);
    if (!Array.isArray(arr)) return UNKNOWN;
    const res = arr.map((x, i) => applyLambda(fn, [x, i]));
    if (res.some((x) => x === UNKNOWN)) return UNKNOWN;
    return name === 'map' ? res : arr.filter((_, i) => res[i] === true);
  }
  const args = ast.args.map((a) => ev(a));
  const known = args.every(isKnown);
  switch (name) {
    case 'empty':
      if (!known) return UNKNOWN;
      return args[0] === null || args[0] === '' || (Array.isArray(args[0]) && args[0].length === 0) || (typeof args[0] === 'object' && args[0] !== null && Object.keys(args[0]).length === 0);
    case 'length':
      if (!known) return UNKNOWN;
      return Array.isArray(args[0]) || typeof args[0] === 'string' ? args[0].length : Object.keys(args[0]).length;
    case 'string':
      return known ? armString(args[0]) : UNKNOWN;
    case 'int':
      return known ? parseInt(args[0], 10) : UNKNOWN;
    case 'bool':
      return known ? args[0] === true || /^true$/i.test(String(args[0])) : UNKNOWN;
    case 'concat':
      if (!known) return UNKNOWN;
      return args.every(Array.isArray) ? args.flat() : args.map(armString).join('');
    case 'join':
      return known && Array.isArray(args[0]) ? args[0].map(armString).join(args[1]) : UNKNOWN;
    case 'tolower':
      return known ? String(args[0]).toLowerCase() : UNKNOWN;
    case 'toupper':
      return known ? String(args[0]).toUpperCase() : UNKNOWN;
    case 'take':
      return known ? args[0].slice(0, Math.max(0, args[1])) : UNKNOWN;
    case 'replace':
      return known ? String(args[0]).split(args[1]).join(args[2]) : UNKNOWN;
    case 'split':
      return known ? String(args[0]).split(args[1]) : UNKNOWN;
    case 'contains':
      if (!known) return UNKNOWN;
      if (Array.isArray(args[0])) return args[0].includes(args[1]);
      if (typeof args[0] === 'string') return args[0].toLowerCase().includes(String(args[1]).toLowerCase());
      return Object.keys(args[0]).some((k) => k.toLowerCase() === String(args[1]).toLowerCase());
    case 'max':
      return known ? Math.max(...args.flat()) : UNKNOWN;
    case 'min':
      return known ? Math.min(...args.flat()) : UNKNOWN;
    case 'flatten':
      return known ? args[0].flat() : UNKNOWN;
    case 'union':
      if (args.some((a) => a === UNKNOWN || a === null || typeof a !== 'object')) return UNKNOWN;
      if (!args.every(Array.isArray)) return Object.assign({}, ...args); // objects: keep the keys that are known
      if (!known) return UNKNOWN;
      if (args.every(Array.isArray)) return [...new Set(args.flat().map((x) => JSON.stringify(x)))].map((x) => JSON.parse(x));
      return Object.assign({}, ...args);
    case 'coalesce':
      for (const a of args) {
        if (a === UNKNOWN) return UNKNOWN;
        if (a !== null) return a;
      }
      return null;
    case 'subscriptionresourceid':
    case 'tenantresourceid':
      if (!known) return UNKNOWN;
      return `/subscriptions/{subscriptionId}/providers/${args[0]}/${args.slice(1).join('/')}`;
    default:
      return UNKNOWN;
  }
}

module.exports = {
  UNKNOWN,
  Project,
  BicepFile,
  prop,
  stringLiteral,
  rootSymbol,
  memberPath,
  findCalls,
  isKnown,
  toAst,
};
