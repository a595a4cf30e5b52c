'use strict';
// The checks. Each returns { name, problems: [...], summary } — no problems means it passed.
// Messages name the file:line, the symbol and the setting or role, so a failure says what to fix.

const fs = require('node:fs');
const path = require('node:path');
const { Project, prop, stringLiteral, rootSymbol, memberPath, findCalls, isKnown, UNKNOWN } = require('./bicep');
const src = require('./sources');

// ---------------------------------------------------------------------------------------------------------------
// Facts (docs/contract.md §10, docs/azure.md)
// ---------------------------------------------------------------------------------------------------------------

// Settings the app reads somewhere but that must NOT be app settings in Azure. Each line says why.
const LOCAL_ONLY_SETTINGS = {
  // A Service Bus connection string (SAS key) for the local emulator. In Azure the trigger and the handler use
  // ServiceBusConnection__fullyQualifiedNamespace with the managed identity; setting it would win over that.
  ServiceBusConnection: 'a connection string with a key: local emulator only',
  // Plain host-storage connection string (UseDevelopmentStorage=true locally). Azure uses AzureWebJobsStorage__*.
  AzureWebJobsStorage: 'a connection string with a key: Azure uses AzureWebJobsStorage__accountName/__credential/__clientId',
  // Core Tools need it locally; Flex Consumption rejects it (the runtime is functionAppConfig.runtime).
  FUNCTIONS_WORKER_RUNTIME: 'rejected on Flex Consumption; the runtime is functionAppConfig.runtime',
  // Set by the platform (App Service managed identity endpoint) in Azure; by the local stand-in locally.
  IDENTITY_ENDPOINT: 'set by the platform',
  IDENTITY_HEADER: 'set by the platform',
  // Set by the Functions host for the custom handler process.
  FUNCTIONS_CUSTOMHANDLER_PORT: 'set by the Functions host',
  // Graph root override for the local simulator or a proxy; in Azure PURGE_CLOUD picks the Graph root.
  PURGE_GRAPH_ENDPOINT: 'local simulator / proxy override; PURGE_CLOUD picks Graph in Azure',
};

// Settings infra sets for the platform rather than for our code.
const PLATFORM_SETTING_PATTERNS = [/^AzureWebJobsStorage__/, /^APPLICATIONINSIGHTS_/];

// Flex Consumption deprecations (functions-app-settings.md), plus settings that would carry a secret.
const FORBIDDEN_SETTINGS = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
  'WEBSITE_TIME_ZONE',
  'TZ',
  'ServiceBusConnection',
  'AzureWebJobsStorage',
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'FUNCTIONS_CUSTOMHANDLER_PORT',
];

const ROLE = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
};
const ROLE_NAMES = {
  [ROLE.storageBlobDataOwner]: 'Storage Blob Data Owner',
  [ROLE.serviceBusDataReceiver]: 'Azure Service Bus Data Receiver',
  [ROLE.serviceBusDataSender]: 'Azure Service Bus Data Sender',
  [ROLE.monitoringMetricsPublisher]: 'Monitoring Metrics Publisher',
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'b24988ac-6180-49a2-b749-bbc96a5d4d2b': 'Contributor',
  'acdd72a7-3385-48ef-bd42-f606fba81ae7': 'Reader',
  '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9': 'User Access Administrator',
  'f58310d9-a9f6-439a-9e8d-f62e7b41a168': 'Role Based Access Control Administrator',
  '090c5cfd-751d-490a-894a-3ce6f1109419': 'Azure Service Bus Data Owner',
  '17d1049b-9a84-46fb-8f53-869881c3d3ab': 'Storage Account Contributor',
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  '749f88d5-cbae-40b8-bcfc-e573ddc772fa': 'Monitoring Contributor',
};

// Who may hold which role where. Anything else is broader than stated and fails.
const RBAC_RULES = [
  { who: 'function identity', role: ROLE.serviceBusDataReceiver, scope: 'trigger queue', required: true, why: 'receive purge requests' },
  { who: 'function identity', role: ROLE.serviceBusDataSender, scope: 'trigger queue', required: true, why: 'send scheduled retry copies' },
  { who: 'function identity', role: ROLE.serviceBusDataSender, scope: 'failure queue', required: true, why: 'send failures' },
  { who: 'function identity', role: ROLE.storageBlobDataOwner, scope: 'storage account', required: true, why: 'host storage and the deployment package' },
  { who: 'function identity', role: ROLE.monitoringMetricsPublisher, scope: 'application insights', required: true, why: 'Entra-authenticated telemetry' },
  { who: 'logic app caller', role: ROLE.serviceBusDataSender, scope: 'trigger queue', required: 'if a Logic App exists', why: 'enqueue purge requests' },
  { who: 'deployer', role: ROLE.serviceBusDataSender, scope: 'trigger queue', required: false, why: 'send test requests' },
  { who: 'deployer', role: ROLE.serviceBusDataReceiver, scope: 'failure queue', required: false, why: 'read failures' },
];

// Microsoft Graph app roles the purge may be granted (docs/graph.md §2.1); anything else is not needed.
const GRAPH_ROLES_ALLOWED = new Set([
  'User.DeleteRestore.All',
  'User.Read.All',
  'User.ReadBasic.All',
  'Application.ReadWrite.OwnedBy',
  'Application.ReadWrite.All',
  'Application.Read.All',
  'Group.Read.All',
  'AdministrativeUnit.Read.All',
  'AgentIdentity.ReadWrite.All',
]);

const GRAPH_EXTENSION_RE = /^br:mcr\.microsoft\.com\/bicep\/extensions\/microsoftgraph\/v1\.0:\d+\.\d+\.\d+(-[\w.]+)?$/;
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SECRET_TEXT_RE = /(SharedAccessKey(Name)?=|AccountKey=|SharedAccessSignature=|Endpoint=sb:\/\/|DefaultEndpointsProtocol=|InstrumentationKey=[0-9a-f]|[?&]sig=|-----BEGIN [A-Z ]*PRIVATE KEY-----)/i;
const DEFAULT_INVOCATION_TIMEOUT = '45s'; // docs/contract.md §10.1 / internal/config default of PURGE_INVOCATION_TIMEOUT
const GRAPH_WRITES_PER_SECOND_LIMIT = 20; // 3,000 writes per 150 s per app and tenant (docs/graph.md §4.1)

// ---------------------------------------------------------------------------------------------------------------
// Context: everything read once
// ---------------------------------------------------------------------------------------------------------------

function loadContext(root) {
  const infraDir = path.join(root, 'infra');
  const ctx = { root, infraDir, problems: {} };
  ctx.bicepconfig = src.tryJson(path.join(infraDir, 'bicepconfig.json'));
  ctx.parametersFile = src.tryJson(path.join(infraDir, 'main.parameters.json'));
  ctx.hostJson = src.tryJson(path.join(root, 'host.json'));
  ctx.localSettings = src.tryJson(path.join(root, 'local.settings.sample.json'));
  ctx.functionJsons = fs.existsSync(root) ? src.functionJsons(root) : [];
  ctx.goSettings = src.goSettings(root);
  const azureYamlPath = path.join(root, 'azure.yaml');
  if (fs.existsSync(azureYamlPath)) {
    try {
      ctx.azureYaml = { value: src.parseYaml(fs.readFileSync(azureYamlPath, 'utf8')) };
    } catch (e) {
      ctx.azureYaml = { error: e.message };
    }
  } else ctx.azureYaml = { missing: true };
  ctx.project = new Project(root, infraDir, ctx.parametersFile.value ? { 'infra/main.bicep': ctx.parametersFile.value } : {});
  ctx.main = ctx.project.file('infra/main.bicep');
  ctx.site = ctx.project.allResources().find((r) => r.type === 'Microsoft.Web/sites' && !r.existing) || null;
  ctx.appSettings = findAppSettings(ctx);
  ctx.queues = classifyQueues(ctx);
  return ctx;
}

function loc(r) {
  return `${r.file.rel}:${r.at.row}`;
}

function ev(ctx, ast, file, locals) {
  return ctx.project.evaluate(ast, file, locals || {});
}

// JSON text of an evaluated value, with references to resources/modules/lambdas as placeholders.
function plain(v) {
  return JSON.stringify(v, (k, x) => {
    if (typeof x === 'symbol') return '(unknown)';
    if (x && typeof x === 'object' && (x.__resource || x.__module || x.__moduleOutputs || x.__lambda)) return '(reference)';
    return x;
  });
}

function show(v) {
  if (v === UNKNOWN) return '(known only at deploy time)';
  if (typeof v === 'string') return `'${v}'`;
  return JSON.stringify(v);
}

// The function app's settings: the config/appsettings child, or siteConfig.appSettings [{name, value}].
function findAppSettings(ctx) {
  const out = { found: false, entries: new Map(), where: null, file: null };
  if (!ctx.site) return out;
  const file = ctx.site.file;
  for (const r of file.resources) {
    if (r.type !== 'Microsoft.Web/sites/config') continue;
    const parentOk = r.parent === ctx.site.symbol || rootSymbol(prop(r.body, 'parent') || {}) === ctx.site.symbol;
    if (!parentOk || stringLiteral(prop(r.body, 'name')) !== 'appsettings') continue;
    const props = prop(r.body, 'properties');
    if (!props || props.k !== 'obj') continue;
    out.found = true;
    out.where = r;
    out.file = file;
    for (const p of props.props) out.entries.set(p.keyText, { ast: p.value, at: p.at });
    // union(base, {...}) style: collect keys from every object literal inside
  }
  const inline = prop(ctx.site.body, 'properties.siteConfig.appSettings');
  if (inline && inline.k === 'arr') {
    out.found = true;
    out.file = file;
    out.where = out.where || ctx.site;
    for (const item of inline.items) {
      const n = stringLiteral(prop(item, 'name'));
      if (n) out.entries.set(n, { ast: prop(item, 'value'), at: item.at });
    }
  }
  return out;
}

function settingValue(ctx, name) {
  const e = ctx.appSettings.entries.get(name);
  return e ? ev(ctx, e.ast, ctx.appSettings.file) : undefined;
}

// Identify the trigger and failure queues by the names the app settings give them.
function classifyQueues(ctx) {
  const queues = ctx.project.allResources().filter((r) => r.type === 'Microsoft.ServiceBus/namespaces/queues');
  const triggerName = settingValue(ctx, 'PURGE_QUEUE_NAME');
  const failureName = settingValue(ctx, 'PURGE_FAILED_QUEUE_NAME');
  const nameOf = (q) => ev(ctx, prop(q.body, 'name'), q.file);
  const out = { all: queues, triggerName, failureName, trigger: null, failure: null };
  for (const q of queues) {
    if (q.existing) continue;
    const n = nameOf(q);
    if (typeof triggerName === 'string' && n === triggerName) out.trigger = q;
    if (typeof failureName === 'string' && n === failureName) out.failure = q;
  }
  out.label = (q) => {
    const n = nameOf(q);
    if (typeof triggerName === 'string' && n === triggerName) return 'trigger queue';
    if (typeof failureName === 'string' && n === failureName) return 'failure queue';
    return `queue ${show(n)}`;
  };
  return out;
}

// Identifiers an expression depends on, following variables.
function referencedSymbols(ast, file, seen = new Set()) {
  const out = new Set();
  const visit = (a) => {
    if (!a || typeof a !== 'object') return;
    if (Array.isArray(a)) return a.forEach(visit);
    if (a.k === 'id') {
      out.add(a.name);
      const v = file.vars.get(a.name);
      if (v && !seen.has(a.name)) {
        seen.add(a.name);
        for (const s of referencedSymbols(v.value, file, seen)) out.add(s);
      }
      return;
    }
    for (const [key, val] of Object.entries(a)) {
      if (key === 'at' || key === 'bodyNode') continue;
      if (key === 'props') val.forEach((p) => visit(p.value));
      else if (val && typeof val === 'object') visit(val);
    }
  };
  visit(ast);
  return out;
}

function resourceOf(file, symbol) {
  return symbol ? file.resource(symbol) : null;
}

// For loops over a known array: one evaluation context per element.
function instances(ctx, r) {
  if (!r.loop) return [{}];
  const items = ev(ctx, r.loop.source, r.file);
  if (!Array.isArray(items)) return [{}];
  return items.map((item, i) => {
    const l = {};
    if (r.loop.item) l[r.loop.item] = item;
    if (r.loop.index) l[r.loop.index] = i;
    return l;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------------

function checkSyntax(ctx) {
  const problems = [];
  const files = ctx.project.files;
  if (!files.length) problems.push('infra/ has no .bicep files');
  for (const f of files) {
    problems.push(...f.problems);
  }
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.bicepparam')) problems.push(`${path.relative(ctx.root, p)}: .bicepparam files cannot be checked offline; use main.parameters.json`);
    }
  };
  walk(ctx.infraDir);
  if (!ctx.main) problems.push('infra/main.bicep is missing');
  else if (ctx.main.targetScope !== 'subscription') problems.push(`infra/main.bicep: targetScope is '${ctx.main.targetScope}', azd expects 'subscription'`);
  return { name: 'bicep syntax', problems, summary: `${files.length} .bicep files parse with no ERROR/MISSING node` };
}

function checkJsonFiles(ctx) {
  const problems = [];
  const files = [
    ['infra/bicepconfig.json', ctx.bicepconfig],
    ['infra/main.parameters.json', ctx.parametersFile],
    ['host.json', ctx.hostJson],
    ['local.settings.sample.json', ctx.localSettings],
    ...ctx.functionJsons.map((f) => [f.rel, f]),
  ];
  for (const [rel, r] of files) {
    if (r.missing) problems.push(`${rel} is missing`);
    else if (r.error) problems.push(`${rel} is not valid JSON: ${r.error}`);
  }
  if (!ctx.functionJsons.length) problems.push('no <function>/function.json at the app root');
  if (ctx.azureYaml.missing) problems.push('azure.yaml is missing');
  else if (ctx.azureYaml.error) problems.push(ctx.azureYaml.error);
  return { name: 'json and yaml files', problems, summary: `${files.length} JSON files and azure.yaml read` };
}

// What the app reads: name -> [where]
function requiredSettings(ctx) {
  const req = new Map();
  const add = (name, where) => {
    if (!req.has(name)) req.set(name, []);
    if (!req.get(name).includes(where)) req.get(name).push(where);
  };
  for (const fj of ctx.functionJsons) {
    if (!fj.value) continue;
    for (const b of fj.value.bindings || []) {
      for (const [k, v] of Object.entries(b)) {
        if (typeof v !== 'string') continue;
        for (const m of v.matchAll(/%([^%]+)%/g)) add(m[1], `${fj.rel} ${k}`);
      }
      if (typeof b.connection === 'string' && /^serviceBus/i.test(b.type || '')) {
        add(b.connection, `${fj.rel} connection`); // local-only: a connection string; see LOCAL_ONLY_SETTINGS
        for (const suffix of ['fullyQualifiedNamespace', 'credential', 'clientId']) {
          add(`${b.connection}__${suffix}`, `${fj.rel} connection "${b.connection}" over a user-assigned identity`);
        }
      }
    }
  }
  if (ctx.localSettings.value) {
    for (const k of Object.keys(ctx.localSettings.value.Values || {})) add(k, 'local.settings.sample.json');
  }
  for (const [name, files] of ctx.goSettings) for (const f of files) add(name, f);
  // The host itself, with identity-based storage and Entra-only telemetry.
  add('AzureWebJobsStorage__accountName', 'the Functions host (identity-based host storage)');
  add('AzureWebJobsStorage__credential', 'the Functions host (identity-based host storage)');
  add('AzureWebJobsStorage__clientId', 'the Functions host (user-assigned identity)');
  add('APPLICATIONINSIGHTS_CONNECTION_STRING', 'the Functions host (telemetry)');
  add('APPLICATIONINSIGHTS_AUTHENTICATION_STRING', 'the Functions host (Entra-only ingestion)');
  return req;
}

function checkSettingsRequired(ctx) {
  const problems = [];
  if (!ctx.site) return { name: 'settings read by the app are set by infra', problems: ['no Microsoft.Web/sites resource in infra/'], summary: '' };
  if (!ctx.appSettings.found) return { name: 'settings read by the app are set by infra', problems: [`${loc(ctx.site)}: function app "${ctx.site.symbol}" has no appsettings (config/appsettings child or siteConfig.appSettings)`], summary: '' };
  const req = requiredSettings(ctx);
  let checked = 0;
  for (const [name, where] of [...req].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (LOCAL_ONLY_SETTINGS[name]) continue;
    checked++;
    if (!ctx.appSettings.entries.has(name)) {
      problems.push(`app setting ${name} (used in ${where.join(', ')}) is not set by infra (${loc(ctx.appSettings.where)})`);
    }
  }
  return {
    name: 'settings read by the app are set by infra',
    problems,
    summary: `${checked} settings from function.json, local.settings.sample.json, Go sources (${[...new Set([...ctx.goSettings.values()].flatMap((s) => [...s]))].length} file(s)) and the host are set; ${Object.keys(LOCAL_ONLY_SETTINGS).length} local-only allowed`,
  };
}

function checkSettingsUsed(ctx) {
  const problems = [];
  const req = requiredSettings(ctx);
  for (const [name, e] of ctx.appSettings.entries) {
    if (req.has(name)) continue;
    if (PLATFORM_SETTING_PATTERNS.some((re) => re.test(name))) continue;
    problems.push(`app setting ${name} (${ctx.appSettings.file.rel}:${e.at.row}) is set by infra but nothing reads it (misspelt? not in function.json, local.settings.sample.json or the Go sources)`);
  }
  return { name: 'settings set by infra are read by something', problems, summary: `${ctx.appSettings.entries.size} app settings each have a reader` };
}

function checkSettingsForbidden(ctx) {
  const problems = [];
  for (const [name, e] of ctx.appSettings.entries) {
    const where = `${ctx.appSettings.file ? ctx.appSettings.file.rel : '?'}:${e.at.row}`;
    if (FORBIDDEN_SETTINGS.includes(name)) {
      problems.push(`app setting ${name} (${where}) must not be set in Azure: ${LOCAL_ONLY_SETTINGS[name] || 'deprecated on Flex Consumption'}`);
    } else if (/connection_?string/i.test(name) && name !== 'APPLICATIONINSIGHTS_CONNECTION_STRING') {
      problems.push(`app setting ${name} (${where}) is a connection string; use identity-based settings`);
    } else if (/(accountKey|sharedAccessKey|password|secret)$/i.test(name)) {
      problems.push(`app setting ${name} (${where}) carries a secret; use the managed identity`);
    }
  }
  if (ctx.site) {
    if (prop(ctx.site.body, 'properties.siteConfig.linuxFxVersion')) problems.push(`${loc(ctx.site)}: siteConfig.linuxFxVersion is not allowed on Flex Consumption`);
    const inline = prop(ctx.site.body, 'properties.siteConfig.appSettings');
    if (inline && ctx.appSettings.where !== ctx.site) problems.push(`${loc(ctx.site)}: app settings in two places (siteConfig.appSettings and config/appsettings) overwrite each other`);
  }
  return { name: 'no forbidden or secret app settings', problems, summary: `none of ${FORBIDDEN_SETTINGS.length} forbidden names, no connection strings but App Insights'` };
}

function checkSettingsWiring(ctx) {
  const problems = [];
  if (!ctx.appSettings.found) return { name: 'settings wired to the right resources', problems: ['no app settings found'], summary: '' };
  const file = ctx.appSettings.file;
  const get = (n) => ctx.appSettings.entries.get(n);
  const siteIdentities = prop(ctx.site.body, 'identity.userAssignedIdentities');
  const siteIdentitySymbols = new Set();
  if (siteIdentities && siteIdentities.k === 'obj') for (const p of siteIdentities.props) for (const s of referencedSymbols(p.key, file)) siteIdentitySymbols.add(s);
  for (const n of ['ServiceBusConnection__credential', 'AzureWebJobsStorage__credential']) {
    const v = settingValue(ctx, n);
    if (get(n) && v !== 'managedidentity') problems.push(`app setting ${n} is ${show(v)}, must be 'managedidentity'`);
  }
  for (const n of ['ServiceBusConnection__clientId', 'AzureWebJobsStorage__clientId', 'AZURE_CLIENT_ID']) {
    const e = get(n);
    if (!e) continue;
    const p = memberPath(e.ast);
    const sym = rootSymbol(e.ast);
    const r = resourceOf(file, sym);
    if (!p || !p.endsWith('.properties.clientId') || !r || r.type !== 'Microsoft.ManagedIdentity/userAssignedIdentities') {
      problems.push(`app setting ${n} (${file.rel}:${e.at.row}) must be <user-assigned identity>.properties.clientId, is not`);
    } else if (!siteIdentitySymbols.has(sym)) {
      problems.push(`app setting ${n} uses identity "${sym}", which is not assigned to the function app`);
    }
  }
  const expectRef = (n, type, what) => {
    const e = get(n);
    if (!e) return;
    const refs = [...referencedSymbols(e.ast, file)].map((s) => resourceOf(file, s)).filter(Boolean);
    if (!refs.some((r) => r.type === type)) problems.push(`app setting ${n} (${file.rel}:${e.at.row}) does not come from the ${what} (${type})`);
  };
  expectRef('ServiceBusConnection__fullyQualifiedNamespace', 'Microsoft.ServiceBus/namespaces', 'Service Bus namespace');
  expectRef('AzureWebJobsStorage__accountName', 'Microsoft.Storage/storageAccounts', 'storage account');
  expectRef('APPLICATIONINSIGHTS_CONNECTION_STRING', 'Microsoft.Insights/components', 'Application Insights component');
  const fq = settingValue(ctx, 'ServiceBusConnection__fullyQualifiedNamespace');
  if (typeof fq === 'string' && /[/;:]/.test(fq)) problems.push(`app setting ServiceBusConnection__fullyQualifiedNamespace is ${show(fq)}: want a host name only`);
  const auth = settingValue(ctx, 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
  if (get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')) {
    const e = get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
    const text = e.ast.k === 'str' ? e.ast.parts.filter((x) => typeof x === 'string').join('') : String(auth);
    if (!/Authorization=AAD/.test(text)) problems.push('app setting APPLICATIONINSIGHTS_AUTHENTICATION_STRING must contain Authorization=AAD');
  }
  const q = ctx.queues;
  if (!get('PURGE_QUEUE_NAME')) problems.push('PURGE_QUEUE_NAME is not set, so the trigger queue cannot be identified');
  else if (!q.trigger) problems.push(`PURGE_QUEUE_NAME is ${show(q.triggerName)} but no queue resource has that name`);
  if (get('PURGE_FAILED_QUEUE_NAME') && !q.failure) problems.push(`PURGE_FAILED_QUEUE_NAME is ${show(q.failureName)} but no queue resource has that name`);
  if (q.trigger && q.failure && q.trigger === q.failure) problems.push('PURGE_QUEUE_NAME and PURGE_FAILED_QUEUE_NAME name the same queue: failures would be retried forever');
  // Values the Go config would reject at start-up.
  const cloud = settingValue(ctx, 'PURGE_CLOUD');
  if (typeof cloud === 'string' && !['AzureCloud', 'AzureUSGovernment', 'AzureUSGovernmentDoD', 'AzureChinaCloud'].includes(cloud)) problems.push(`PURGE_CLOUD is ${show(cloud)}: not a cloud the handler knows`);
  for (const n of ['PURGE_NOT_FOUND_GRACE', 'PURGE_RETRY_BASE_DELAY', 'PURGE_RETRY_MAX_DELAY', 'PURGE_INVOCATION_TIMEOUT', 'PURGE_MIN_DELETED_AGE']) {
    const v = settingValue(ctx, n);
    if (typeof v === 'string' && Number.isNaN(src.goDurationSeconds(v))) problems.push(`${n} is ${show(v)}: not a duration the handler accepts (30s, 15m, 2h, 7d)`);
  }
  for (const n of ['PURGE_VERIFY', 'PURGE_ALLOW_SYNCED', 'PURGE_DRY_RUN']) {
    const v = settingValue(ctx, n);
    if (typeof v === 'string' && !/^(true|false|1|0|t|f)$/i.test(v)) problems.push(`${n} is ${show(v)}: want true or false`);
  }
  return { name: 'settings wired to the right resources', problems, summary: 'identity client ids, namespace, storage, App Insights, queue names and values agree' };
}

// ---- RBAC ------------------------------------------------------------------------------------------------------

// Whose object id is this? 'function identity', 'logic app caller', 'deployer' or a description.
function classifyPrincipal(ctx, ast, file, depth) {
  if (!ast || depth > 10) return 'an unknown principal';
  if (ast.k === 'member' && ast.obj.k === 'member' && ast.obj.prop === 'outputs' && ast.obj.obj.k === 'id') {
    const m = file.modules.find((x) => x.symbol === ast.obj.obj.name);
    const target = m && m.path && ctx.project.files.find((x) => x.abs === path.resolve(path.dirname(file.abs), m.path));
    const out = target && target.outputs.find((o) => o.name === ast.prop);
    return out ? classifyPrincipal(ctx, out.value, target, depth + 1) : `module output ${ast.obj.obj.name}.outputs.${ast.prop}`;
  }
  const sym = rootSymbol(ast);
  if (!sym) return 'an unknown principal';
  const r = file.resource(sym);
  if (r) {
    if (r.type === 'Microsoft.ManagedIdentity/userAssignedIdentities' || r.type === 'Microsoft.Web/sites') return 'function identity';
    if (r.type === 'Microsoft.Logic/workflows') return 'logic app caller';
    return `the identity of ${r.type} "${sym}"`;
  }
  if (file.vars.has(sym)) return classifyPrincipal(ctx, file.vars.get(sym).value, file, depth + 1);
  if (file.params.has(sym)) {
    const callers = ctx.project.callersOf(file);
    for (const m of callers) {
      const passed = prop(prop(m.body, 'params'), sym);
      if (passed) return classifyPrincipal(ctx, passed, m.file, depth + 1);
    }
    // A parameter nobody passes: the principal running the deployment (azd's AZURE_PRINCIPAL_ID).
    if (!callers.length && /principalId$/i.test(sym)) return 'deployer';
    return `principal parameter "${sym}"`;
  }
  return `principal "${sym}"`;
}

function describeAssignments(ctx) {
  const out = [];
  for (const f of ctx.project.files) {
    for (const r of f.resourcesOfType('Microsoft.Authorization/roleAssignments')) for (const locals of instances(ctx, r)) {
      const a = { r, file: f, problems: [] };
      const defAst = prop(r.body, 'properties.roleDefinitionId');
      const def = defAst ? ev(ctx, defAst, f, locals) : UNKNOWN;
      const guid = typeof def === 'string' ? def.split('/').pop().toLowerCase() : null;
      a.role = guid && GUID_RE.test(guid) ? guid : null;
      a.roleName = a.role ? ROLE_NAMES[a.role] || `role ${a.role}` : 'an unresolvable role';
      if (!a.role) a.problems.push(`${loc(r)}: "${r.symbol}" roleDefinitionId cannot be resolved to a built-in role GUID`);
      // scope
      const scopeAst = prop(r.body, 'scope');
      if (!scopeAst) {
        a.scope = `the whole ${f.targetScope === 'subscription' ? 'subscription' : 'resource group'}`;
        a.scopeResource = null;
      } else if (scopeAst.k === 'call') {
        a.scope = `${scopeAst.name}()`;
        a.scopeResource = null;
      } else {
        const sr = resourceOf(f, rootSymbol(scopeAst));
        a.scopeResource = sr;
        if (!sr) a.scope = `"${rootSymbol(scopeAst) || 'an expression'}"`;
        else if (sr.type === 'Microsoft.ServiceBus/namespaces/queues') a.scope = ctx.queues.label(sr);
        else if (sr.type === 'Microsoft.Storage/storageAccounts') a.scope = 'storage account';
        else if (sr.type === 'Microsoft.Insights/components') a.scope = 'application insights';
        else if (sr.type === 'Microsoft.ServiceBus/namespaces') a.scope = `the Service Bus namespace "${sr.symbol}"`;
        else a.scope = `${sr.type} "${sr.symbol}"`;
      }
      // principal: follow parameters to what the calling module passes, and module outputs to their value
      a.who = classifyPrincipal(ctx, prop(r.body, 'properties.principalId'), f, 0);
      const ptype = prop(r.body, 'properties.principalType');
      const ptypeValue = ptype ? ev(ctx, ptype, f, locals) : undefined;
      if (a.who !== 'deployer' && ptypeValue !== 'ServicePrincipal') a.problems.push(`${loc(r)}: "${r.symbol}" principalType is ${ptype ? show(ptypeValue) : 'missing'}, want 'ServicePrincipal' for a managed identity`);
      const nameAst = prop(r.body, 'name');
      if (!nameAst || nameAst.k !== 'call' || nameAst.name !== 'guid') a.problems.push(`${loc(r)}: "${r.symbol}" name must be guid(<scope>, <principal>, <role>) so redeployments are idempotent`);
      out.push(a);
    }
  }
  return out;
}

function checkRbacRequired(ctx) {
  const problems = [];
  const all = describeAssignments(ctx);
  const hasLogicApp = ctx.project.allResources().some((r) => r.type === 'Microsoft.Logic/workflows' && !r.existing);
  for (const rule of RBAC_RULES) {
    const needed = rule.required === true || (rule.required === 'if a Logic App exists' && hasLogicApp);
    if (!needed) continue;
    const match = all.find((a) => a.who === rule.who && a.role === rule.role && a.scope === rule.scope && !a.r.condition);
    if (!match) problems.push(`missing role assignment: ${ROLE_NAMES[rule.role]} (${rule.role}) for the ${rule.who} on the ${rule.scope} (${rule.why})${rule.who === 'logic app caller' ? '' : ''}`);
  }
  for (const a of all) problems.push(...a.problems);
  return { name: 'required role assignments', problems, summary: `${RBAC_RULES.filter((r) => r.required === true).length} required roles present${hasLogicApp ? ' (+ Logic App sender)' : ''}, guid() names, principalType ServicePrincipal` };
}

function checkRbacNarrow(ctx) {
  const problems = [];
  const all = describeAssignments(ctx);
  for (const a of all) {
    if (!a.role) continue;
    const allowed = RBAC_RULES.some((rule) => rule.who === a.who && rule.role === a.role && rule.scope === a.scope);
    if (allowed) continue;
    const alternatives = RBAC_RULES.filter((rule) => rule.who === a.who && rule.role === a.role).map((rule) => rule.scope);
    const why = alternatives.length
      ? `allowed only on the ${alternatives.join(' or the ')}`
      : ROLE_NAMES[a.role] && !Object.values(ROLE).includes(a.role)
        ? 'a role broader than this app needs'
        : `not a role the ${a.who} is stated to hold`;
    problems.push(`${loc(a.r)}: "${a.r.symbol}" gives ${a.roleName} to the ${a.who} at ${a.scope}: ${why}`);
  }
  return { name: 'role assignments no broader than stated', problems, summary: `${all.length} role assignments, each at a queue, the storage account or App Insights; no Owner/Contributor/Data Owner on Service Bus` };
}

// ---- secrets ---------------------------------------------------------------------------------------------------

function checkNoSecrets(ctx) {
  const problems = [];
  for (const f of ctx.project.files) {
    // list*() calls: listKeys(), storage.listKeys(), listCallbackUrl(), listConnectionStrings() ...
    const calls = [];
    const collect = (ast) => {
      if (!ast || typeof ast !== 'object') return;
      if (Array.isArray(ast)) return ast.forEach(collect);
      if (ast.k === 'call') {
        const fnName = ast.fn && ast.fn.k === 'member' ? ast.fn.prop : ast.name;
        if (/^list[A-Z]/.test(fnName || '')) calls.push({ name: fnName, at: ast.at });
      }
      for (const [k, v] of Object.entries(ast)) {
        if (k === 'at' || k === 'bodyNode') continue;
        if (k === 'props') v.forEach((p) => { collect(p.key); collect(p.value); });
        else if (v && typeof v === 'object') collect(v);
      }
    };
    const roots = [
      ...[...f.params.values()].map((p) => p.default),
      ...[...f.vars.values()].map((v) => v.value),
      ...f.resources.map((r) => r.body),
      ...f.resources.map((r) => r.loop && r.loop.source),
      ...f.modules.map((m) => m.body),
      ...f.outputs.map((o) => o.value),
    ];
    roots.forEach(collect);
    for (const c of calls) problems.push(`${f.rel}:${c.at.row}: ${c.name}() reads keys or secrets; use the managed identity instead`);
    // Literal secrets / connection strings in the text.
    f.raw.split('\n').forEach((line, i) => {
      if (SECRET_TEXT_RE.test(line)) problems.push(`${f.rel}:${i + 1}: looks like a key or connection string: ${line.trim().slice(0, 80)}`);
    });
    // Parameters that would carry secrets.
    for (const p of f.params.values()) {
      if (/(key|password|secret|connectionstring|sas)$/i.test(p.name) || p.decorators.some((d) => d.k === 'call' && d.name === 'secure')) {
        problems.push(`${f.rel}:${p.at.row}: parameter "${p.name}" would carry a secret; this app needs none`);
      }
    }
    // Outputs exposing connection strings or keys.
    for (const o of f.outputs) {
      const text = JSON.stringify(o.value, (k, v) => (k === 'at' || k === 'bodyNode' ? undefined : v));
      if (/"(ConnectionString|connectionString|primaryKey|secondaryKey|primaryConnectionString|InstrumentationKey)"/.test(text) || /connectionstring|key$/i.test(o.name)) {
        problems.push(`${f.rel}:${o.at.row}: output "${o.name}" exposes a key or connection string`);
      }
    }
    // Connection strings used anywhere but the App Insights setting.
    for (const r of f.resources) {
      const walk = (ast, pathKeys) => {
        if (!ast || typeof ast !== 'object') return;
        if (ast.k === 'obj') {
          for (const p of ast.props) {
            const keyPath = [...pathKeys, p.keyText];
            const mp = memberPath(p.value);
            if (mp && /\.(ConnectionString|connectionString|primaryConnectionString)$/.test(mp) && p.keyText !== 'APPLICATIONINSIGHTS_CONNECTION_STRING') {
              problems.push(`${f.rel}:${p.at.row}: ${keyPath.join('.')} uses ${mp}; only APPLICATIONINSIGHTS_CONNECTION_STRING may`);
            }
            if (/connectionString$/i.test(p.keyText || '') && p.keyText !== 'APPLICATIONINSIGHTS_CONNECTION_STRING') {
              problems.push(`${f.rel}:${p.at.row}: property ${keyPath.join('.')} is a connection string`);
            }
            walk(p.value, keyPath);
          }
        } else if (ast.k === 'arr') ast.items.forEach((x) => walk(x, pathKeys));
      };
      walk(r.body, []);
    }
  }
  // JSON in infra/, azure.yaml and the scripts azd or people run.
  const textFiles = [];
  const walkText = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walkText(p);
      else if (/\.(json|sh|ps1|yaml|yml)$/.test(e.name)) textFiles.push(p);
    }
  };
  walkText(ctx.infraDir);
  if (fs.existsSync(path.join(ctx.root, 'azure.yaml'))) textFiles.push(path.join(ctx.root, 'azure.yaml'));
  for (const p of textFiles) {
    const rel = path.relative(ctx.root, p).split(path.sep).join('/');
    fs.readFileSync(p, 'utf8').split('\n').forEach((line, i) => {
      if (/^\s*#/.test(line) && !SECRET_TEXT_RE.test(line)) return;
      if (SECRET_TEXT_RE.test(line) || /\blistKeys\b|\bkeys list\b|authorization-rule keys|show-connection-string|--connection-string|\bkeys renew\b|--account-key|--sas-token/.test(line)) {
        problems.push(`${rel}:${i + 1}: reads or contains a key or connection string: ${line.trim().slice(0, 80)}`);
      }
    });
  }
  return { name: 'no secrets, keys, listKeys() or connection strings', problems, summary: `${ctx.project.files.length} .bicep files and ${textFiles.length} scripts/JSON/YAML files are key-free (only App Insights' connection string, with local auth off)` };
}

function checkLocalAuth(ctx) {
  const problems = [];
  const own = ctx.project.allResources().filter((r) => !r.existing);
  const need = (r, dotted, want, why) => {
    const a = prop(r.body, dotted);
    const v = a ? ev(ctx, a, r.file) : undefined;
    if (v !== want) problems.push(`${loc(r)}: ${r.type} "${r.symbol}" ${dotted} is ${a ? show(v) : 'not set'}, must be ${JSON.stringify(want)} (${why})`);
  };
  const sb = own.filter((r) => r.type === 'Microsoft.ServiceBus/namespaces');
  const st = own.filter((r) => r.type === 'Microsoft.Storage/storageAccounts');
  const ai = own.filter((r) => r.type === 'Microsoft.Insights/components');
  sb.forEach((r) => need(r, 'properties.disableLocalAuth', true, 'no SAS keys; Entra only'));
  st.forEach((r) => {
    need(r, 'properties.allowSharedKeyAccess', false, 'no account keys; Entra only');
    need(r, 'properties.allowBlobPublicAccess', false, 'no anonymous blobs');
  });
  ai.forEach((r) => need(r, 'properties.DisableLocalAuth', true, 'Entra-only ingestion'));
  if (!sb.length) problems.push('no Service Bus namespace in infra/');
  if (!st.length) problems.push('no storage account in infra/');
  if (!ai.length) problems.push('no Application Insights component in infra/');
  if (ctx.site) {
    need(ctx.site, 'properties.httpsOnly', true, 'TLS only');
    const policies = ctx.site.file.resources.filter((r) => r.type === 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    for (const n of ['ftp', 'scm']) {
      const p = policies.find((r) => stringLiteral(prop(r.body, 'name')) === n);
      if (!p) problems.push(`${loc(ctx.site)}: no basicPublishingCredentialsPolicies "${n}" with allow: false (publishing profiles are secrets)`);
      else need(p, 'properties.allow', false, 'no publishing-profile secrets');
    }
  }
  return { name: 'local auth off (Service Bus, storage, App Insights, publishing)', problems, summary: `disableLocalAuth, allowSharedKeyAccess false, DisableLocalAuth, no basic publishing credentials` };
}

function checkQueues(ctx) {
  const problems = [];
  const q = ctx.queues;
  const t = q.trigger;
  if (!t) problems.push('the trigger queue (named by PURGE_QUEUE_NAME) is not declared');
  if (!q.failure) problems.push('the failure queue (named by PURGE_FAILED_QUEUE_NAME) is not declared');
  const p = (r, k) => {
    const a = prop(r.body, `properties.${k}`);
    return a ? ev(ctx, a, r.file) : undefined;
  };
  if (t) {
    const mdc = p(t, 'maxDeliveryCount');
    if (typeof mdc !== 'number' || mdc < 1) problems.push(`${loc(t)}: trigger queue maxDeliveryCount is ${show(mdc)}, want a number >= 1`);
    const lock = p(t, 'lockDuration');
    const lockS = src.isoDurationSeconds(lock);
    const timeout = settingValue(ctx, 'PURGE_INVOCATION_TIMEOUT');
    const timeoutText = typeof timeout === 'string' ? timeout : DEFAULT_INVOCATION_TIMEOUT;
    const timeoutS = src.goDurationSeconds(timeoutText);
    if (Number.isNaN(lockS)) problems.push(`${loc(t)}: trigger queue lockDuration is ${show(lock)}, want an ISO 8601 duration such as PT1M`);
    else {
      if (lockS > 300) problems.push(`${loc(t)}: trigger queue lockDuration ${lock} exceeds the PT5M maximum`);
      if (!(lockS > timeoutS)) problems.push(`${loc(t)}: trigger queue lockDuration ${lock} must exceed PURGE_INVOCATION_TIMEOUT ${timeoutText}, or the lock lapses while the handler still works`);
    }
    if (p(t, 'deadLetteringOnMessageExpiration') !== true) problems.push(`${loc(t)}: trigger queue deadLetteringOnMessageExpiration must be true (expired requests must not vanish)`);
    if (p(t, 'requiresDuplicateDetection') !== true) problems.push(`${loc(t)}: trigger queue requiresDuplicateDetection must be true (a repeated retry copy must be dropped)`);
    else if (Number.isNaN(src.isoDurationSeconds(p(t, 'duplicateDetectionHistoryTimeWindow')))) problems.push(`${loc(t)}: trigger queue duplicateDetectionHistoryTimeWindow must be an ISO 8601 duration`);
    if (p(t, 'requiresSession') === true) problems.push(`${loc(t)}: trigger queue requires sessions, but purge/function.json has isSessionsEnabled false`);
    const ns = resourceOf(t.file, t.parent || rootSymbol(prop(t.body, 'parent') || {}));
    if (ns) {
      const sku = ev(ctx, prop(ns.body, 'sku.name') || {}, ns.file);
      if (sku === 'Basic') problems.push(`${loc(ns)}: Service Bus sku Basic has no duplicate detection; use Standard or Premium`);
    }
  }
  if (q.failure && p(q.failure, 'deadLetteringOnMessageExpiration') !== true) problems.push(`${loc(q.failure)}: failure queue deadLetteringOnMessageExpiration must be true (expired failures must not vanish)`);
  return { name: 'queues', problems, summary: `trigger ${show(q.triggerName)} (maxDeliveryCount, lock > PURGE_INVOCATION_TIMEOUT, dead-lettering, duplicate detection) and failure ${show(q.failureName)}` };
}

function checkAlerts(ctx) {
  const problems = [];
  const all = ctx.project.allResources();
  const metric = all.filter((r) => r.type === 'Microsoft.Insights/metricAlerts');
  const seen = [];
  for (const r of metric) {
    for (const locals of instances(ctx, r)) {
      const body = ev(ctx, r.body, r.file, locals);
      const crit = body && body.properties && body.properties.criteria;
      const allOf = crit && Array.isArray(crit.allOf) ? crit.allOf : [];
      const actions = body && body.properties && body.properties.actions;
      for (const c of allOf) {
        const dims = Array.isArray(c.dimensions) ? c.dimensions : [];
        const entity = dims.find((d) => d && d.name === 'EntityName');
        seen.push({ r, metric: c.metricName, queues: entity && Array.isArray(entity.values) ? entity.values : [], actions, count: allOf.length });
      }
    }
  }
  const want = [
    ['DeadletteredMessages', ctx.queues.triggerName, 'dead-lettered messages on the trigger queue'],
    ['ActiveMessages', ctx.queues.failureName, 'messages on the failure queue'],
  ];
  for (const [m, qn, what] of want) {
    const hit = seen.find((s) => s.metric === m && s.queues.includes(qn));
    if (!hit) problems.push(`no metric alert on ${what}: metricAlerts with ${m} and EntityName = ${show(qn)}`);
    else {
      if (hit.count > 1) problems.push(`${loc(hit.r)}: the ${m} alert has ${hit.count} criteria, which are AND-ed; use one rule per signal`);
      if (!Array.isArray(hit.actions) || !hit.actions.length) problems.push(`${loc(hit.r)}: the ${m} alert notifies no action group`);
    }
  }
  const logRules = all.filter((r) => r.type === 'Microsoft.Insights/scheduledQueryRules');
  const queryOf = (r) => {
    const body = ev(ctx, r.body, r.file);
    const allOf = body && body.properties && body.properties.criteria && body.properties.criteria.allOf;
    return Array.isArray(allOf) ? allOf.map((c) => (c && typeof c.query === 'string' ? c.query : '')).join('\n') : '';
  };
  // The query must read the handler's "outcome" field and count the "failed" ones.
  const rate = logRules.find((r) => {
    const q = queryOf(r);
    return /\boutcome\b/.test(q) && /["']failed["']/.test(q);
  });
  if (!rate) problems.push('no log alert on the purge failure rate (scheduledQueryRules whose query reads the handler\'s "outcome" field and counts "failed")');
  else {
    const body = ev(ctx, rate.body, rate.file);
    const crit = body.properties && body.properties.criteria && body.properties.criteria.allOf && body.properties.criteria.allOf[0];
    if (!crit || typeof crit.query !== 'string' || !/\btraces\b/.test(crit.query)) problems.push(`${loc(rate)}: the failure-rate query must read the App Insights traces table (handler stdout)`);
    const actions = body.properties && body.properties.actions;
    if (!actions || !Array.isArray(actions.actionGroups) || !actions.actionGroups.length) problems.push(`${loc(rate)}: the failure-rate alert notifies no action group`);
    const scopes = prop(rate.body, 'properties.scopes');
    const scopeRes = scopes && scopes.k === 'arr' && scopes.items.map((i) => resourceOf(rate.file, rootSymbol(i))).filter(Boolean);
    if (!scopeRes || !scopeRes.some((s) => s.type === 'Microsoft.Insights/components')) problems.push(`${loc(rate)}: the failure-rate alert must be scoped to the Application Insights component`);
  }
  if (ctx.main && !['actionGroupId', 'alertEmail'].some((n) => ctx.main.params.has(n))) problems.push('infra/main.bicep has no action group parameter (actionGroupId or alertEmail)');
  return { name: 'alerts', problems, summary: 'failure-queue messages, trigger-queue dead letters, log-based failure rate; action group parameter' };
}

function checkFlex(ctx) {
  const problems = [];
  const plans = ctx.project.allResources().filter((r) => r.type === 'Microsoft.Web/serverfarms' && !r.existing);
  const s = ctx.site;
  if (!s) return { name: 'flex consumption app', problems: ['no function app (Microsoft.Web/sites)'], summary: '' };
  const v = (r, k) => {
    const a = prop(r.body, k);
    return a ? ev(ctx, a, r.file) : undefined;
  };
  const planRef = resourceOf(s.file, rootSymbol(prop(s.body, 'properties.serverFarmId') || {}));
  const plan = planRef || plans[0];
  if (!plan) problems.push('no Flex Consumption plan (Microsoft.Web/serverfarms)');
  else {
    if (v(plan, 'sku.name') !== 'FC1' || v(plan, 'sku.tier') !== 'FlexConsumption') problems.push(`${loc(plan)}: plan sku must be FC1 / FlexConsumption, is ${show(v(plan, 'sku.name'))} / ${show(v(plan, 'sku.tier'))}`);
    if (v(plan, 'properties.reserved') !== true) problems.push(`${loc(plan)}: plan properties.reserved must be true (Linux)`);
  }
  if (v(s, 'kind') !== 'functionapp,linux') problems.push(`${loc(s)}: kind is ${show(v(s, 'kind'))}, want 'functionapp,linux'`);
  const rt = v(s, 'properties.functionAppConfig.runtime');
  if (!rt || rt.name !== 'custom' || rt.version !== '1.0') problems.push(`${loc(s)}: functionAppConfig.runtime must be { name: 'custom', version: '1.0' } for a custom handler, is ${show(rt)}`);
  const st = v(s, 'properties.functionAppConfig.deployment.storage');
  if (!st || st.type !== 'blobContainer') problems.push(`${loc(s)}: functionAppConfig.deployment.storage.type must be 'blobContainer'`);
  else if (!st.authentication || !['UserAssignedIdentity', 'SystemAssignedIdentity'].includes(st.authentication.type)) problems.push(`${loc(s)}: the deployment container must be reached with a managed identity, not ${show(st.authentication && st.authentication.type)}`);
  const mem = v(s, 'properties.functionAppConfig.scaleAndConcurrency.instanceMemoryMB');
  if (![512, 2048, 4096].includes(mem)) problems.push(`${loc(s)}: instanceMemoryMB ${show(mem)} is not one of 512, 2048, 4096`);
  const max = v(s, 'properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount');
  if (typeof max !== 'number' || max < 1 || max > 1000) problems.push(`${loc(s)}: maximumInstanceCount ${show(max)} is not a number from 1 to 1000`);
  const idType = v(s, 'identity.type');
  if (typeof idType !== 'string' || !/UserAssigned/.test(idType)) problems.push(`${loc(s)}: the function app needs its user-assigned identity (identity.type ${show(idType)})`);
  return { name: 'flex consumption app', problems, summary: `FC1 plan, runtime custom 1.0, blob-container deployment over identity, ${show(mem)} MB, max ${show(max)} instance(s)` };
}

function checkScale(ctx) {
  const problems = [];
  const host = ctx.hostJson.value || {};
  const mcc = host.extensions && host.extensions.serviceBus && host.extensions.serviceBus.maxConcurrentCalls;
  if (!Number.isInteger(mcc) || mcc < 1) problems.push(`host.json extensions.serviceBus.maxConcurrentCalls is ${show(mcc)}, want a whole number >= 1 (per-instance concurrency)`);
  const main = ctx.main;
  if (!main || !main.params.has('graphWritesPerSecond')) {
    problems.push('infra/main.bicep has no graphWritesPerSecond parameter to derive the scale from');
    return { name: 'scale respects Graph (host.json vs graphWritesPerSecond)', problems, summary: '' };
  }
  const wps = ctx.project.paramValue(main, 'graphWritesPerSecond');
  const ms = main.params.has('purgeMilliseconds') ? ctx.project.paramValue(main, 'purgeMilliseconds') : 1000;
  if (typeof wps !== 'number') problems.push(`graphWritesPerSecond is ${show(wps)}: give a number in main.parameters.json or as the default`);
  else if (wps > GRAPH_WRITES_PER_SECOND_LIMIT) problems.push(`graphWritesPerSecond ${wps} exceeds Graph's ${GRAPH_WRITES_PER_SECOND_LIMIT}/s (3,000 writes per 150 s per app and tenant)`);
  if (main.vars.has('maxConcurrentCalls')) {
    const fromBicep = ev(ctx, main.vars.get('maxConcurrentCalls').value, main);
    if (fromBicep !== mcc) problems.push(`infra/main.bicep maxConcurrentCalls is ${show(fromBicep)} but host.json has ${show(mcc)}`);
  }
  const maxAst = ctx.site && prop(ctx.site.body, 'properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount');
  const maxInstances = maxAst ? ev(ctx, maxAst, ctx.site.file) : UNKNOWN;
  if (typeof maxInstances !== 'number') problems.push(`maximumInstanceCount is ${show(maxInstances)}: cannot compare it with graphWritesPerSecond`);
  if (typeof wps === 'number' && typeof ms === 'number' && typeof maxInstances === 'number' && Number.isInteger(mcc)) {
    const ceiling = (maxInstances * mcc * 1000) / ms;
    if (ceiling > wps) {
      const perInstance = (mcc * 1000) / ms;
      problems.push(
        `${maxInstances} instance(s) x maxConcurrentCalls ${mcc} (host.json) at ${ms} ms per purge allow ${ceiling} Graph writes/s, over graphWritesPerSecond ${wps}` +
          (maxInstances === 1 && perInstance > wps ? `: lower host.json extensions.serviceBus.maxConcurrentCalls to at most ${Math.max(1, Math.floor((wps * ms) / 1000))} or raise graphWritesPerSecond to ${perInstance}` : ': derive maximumInstanceCount from graphWritesPerSecond'),
      );
    }
    ctx.scale = { wps, ms, mcc, maxInstances, ceiling };
    // The handler's own write limiter: each instance's ceiling times the instances stays within the budget.
    const perInstance = settingValue(ctx, 'PURGE_MAX_WRITES_PER_SECOND');
    const rate = Number(perInstance);
    if (perInstance === undefined) problems.push('app setting PURGE_MAX_WRITES_PER_SECOND is not set: each instance would pace its writes at the handler default of 20/s');
    else if (!Number.isFinite(rate) || rate <= 0) problems.push(`PURGE_MAX_WRITES_PER_SECOND is ${show(perInstance)}: cannot compare it with graphWritesPerSecond`);
    else if (rate * maxInstances > wps) problems.push(`PURGE_MAX_WRITES_PER_SECOND ${rate} x ${maxInstances} instance(s) = ${rate * maxInstances} writes/s, over graphWritesPerSecond ${wps}: derive it as graphWritesPerSecond / maximumInstanceCount`);
    else ctx.scale.limiter = rate;
  }
  const s = ctx.scale;
  return { name: 'scale respects Graph (host.json vs graphWritesPerSecond)', problems, summary: s ? `${s.maxInstances} instance(s) x ${s.mcc} concurrent calls at ${s.ms} ms = ${s.ceiling} writes/s, and ${s.maxInstances} x PURGE_MAX_WRITES_PER_SECOND ${s.limiter}, <= graphWritesPerSecond ${s.wps} <= ${GRAPH_WRITES_PER_SECOND_LIMIT}` : '' };
}

function checkAzd(ctx) {
  const problems = [];
  const y = ctx.azureYaml.value;
  const main = ctx.main;
  if (!y) return { name: 'azure.yaml, parameters and main.bicep agree', problems: ['azure.yaml cannot be read'], summary: '' };
  const services = y.services && typeof y.services === 'object' ? Object.entries(y.services) : [];
  const fnServices = services.filter(([, s]) => s && s.host === 'function');
  if (fnServices.length !== 1) problems.push(`azure.yaml must have exactly one service with host: function, has ${fnServices.length}`);
  const [svcName, svc] = fnServices[0] || [null, null];
  if (svc) {
    if (svc.language === 'go') problems.push(`azure.yaml services.${svcName}.language is go: azd's "go" is the native Go worker and packages no function.json; use custom`);
    else if (svc.language !== 'custom') problems.push(`azure.yaml services.${svcName}.language is ${show(svc.language)}, want custom`);
    if (svc.project !== '.' && svc.project !== './') problems.push(`azure.yaml services.${svcName}.project is ${show(svc.project)}: the app root is the repository root (docs/contract.md §1.1)`);
    if (!svc.dist) problems.push(`azure.yaml services.${svcName}.dist is missing (required for language custom)`);
    const run = svc.hooks && svc.hooks.prepackage && ((svc.hooks.prepackage.posix && svc.hooks.prepackage.posix.run) || svc.hooks.prepackage.run);
    if (!run || !/infra\/scripts\/package\.sh/.test(run)) problems.push(`azure.yaml services.${svcName}.hooks.prepackage must run infra/scripts/package.sh (it builds ${show(svc.dist)})`);
    const pkgPath = path.join(ctx.root, 'infra/scripts/package.sh');
    if (fs.existsSync(pkgPath)) {
      const m = /out=\$\{1:-([^}]+)\}/.exec(fs.readFileSync(pkgPath, 'utf8'));
      if (m && svc.dist && m[1] !== svc.dist) problems.push(`azure.yaml dist ${show(svc.dist)} differs from what infra/scripts/package.sh writes (${show(m[1])})`);
    }
    // The function app's azd-service-name tag.
    if (ctx.site) {
      const tags = ev(ctx, prop(ctx.site.body, 'tags') || { k: 'none' }, ctx.site.file);
      const tag = tags && typeof tags === 'object' ? tags['azd-service-name'] : undefined;
      if (tag !== svcName) problems.push(`${loc(ctx.site)}: function app tag azd-service-name is ${show(tag)} but azure.yaml names the service ${show(svcName)}`);
    }
  }
  for (const [, hooks] of [['project', y.hooks], ...services.map(([n, s]) => [n, s && s.hooks])]) {
    if (!hooks) continue;
    for (const h of Object.values(hooks)) {
      const run = h && ((h.posix && h.posix.run) || h.run);
      if (typeof run === 'string' && /^\.?\/?[\w./-]+\.sh$/.test(run.trim())) {
        const p = path.join(ctx.root, run.trim());
        if (!fs.existsSync(p)) problems.push(`azure.yaml hook runs ${run}, which does not exist`);
        else if (!(fs.statSync(p).mode & 0o111)) problems.push(`azure.yaml hook runs ${run}, which is not executable (chmod +x, and commit the mode)`);
      }
    }
  }
  if (y.infra && y.infra.path && String(y.infra.path).replace(/\/$/, '') !== 'infra') problems.push(`azure.yaml infra.path is ${show(y.infra.path)}, want infra`);
  if (y.infra && y.infra.module && y.infra.module !== 'main') problems.push(`azure.yaml infra.module is ${show(y.infra.module)}, want main`);
  // main.parameters.json <-> main.bicep
  const pf = ctx.parametersFile.value;
  if (main && pf) {
    const given = pf.parameters || {};
    for (const [name, entry] of Object.entries(given)) {
      const p = main.params.get(name);
      if (!p) {
        problems.push(`infra/main.parameters.json sets "${name}", which infra/main.bicep does not declare`);
        continue;
      }
      const v = ctx.project.paramValue(main, name);
      const allowed = p.decorators.find((d) => d.k === 'call' && d.name === 'allowed');
      if (allowed && v !== UNKNOWN) {
        const list = ev(ctx, allowed.args[0], main);
        if (Array.isArray(list) && !list.includes(v)) problems.push(`infra/main.parameters.json "${name}" = ${show(v)} is not allowed (${list.join(', ')})`);
      }
      if (p.type === 'int' && v !== UNKNOWN && typeof v !== 'number') problems.push(`infra/main.parameters.json "${name}" must be a number for an int parameter, is ${show(entry.value)}`);
      if (p.type === 'int' && typeof v === 'number') {
        for (const d of p.decorators.filter((x) => x.k === 'call' && (x.name === 'minValue' || x.name === 'maxValue'))) {
          const bound = ev(ctx, d.args[0], main);
          if (d.name === 'minValue' && v < bound) problems.push(`infra/main.parameters.json "${name}" = ${v} is below @minValue(${bound})`);
          if (d.name === 'maxValue' && v > bound) problems.push(`infra/main.parameters.json "${name}" = ${v} is above @maxValue(${bound})`);
        }
      }
    }
    for (const p of main.params.values()) {
      if (!p.default && !Object.prototype.hasOwnProperty.call(given, p.name)) problems.push(`infra/main.bicep parameter "${p.name}" has no default and infra/main.parameters.json does not supply it`);
    }
  }
  // Every module path exists and gets only parameters it declares.
  for (const f of ctx.project.files) {
    for (const m of f.modules) {
      const target = m.path && ctx.project.files.find((x) => x.abs === path.resolve(path.dirname(f.abs), m.path));
      if (!target) {
        problems.push(`${f.rel}:${m.at.row}: module "${m.symbol}" path ${show(m.path)} is not a .bicep file in infra/`);
        continue;
      }
      const params = prop(m.body, 'params');
      const passed = params && params.k === 'obj' ? params.props.map((p) => p.keyText) : [];
      for (const n of passed) if (!target.params.has(n)) problems.push(`${f.rel}:${m.at.row}: module "${m.symbol}" passes "${n}", which ${target.rel} does not declare`);
      for (const p of target.params.values()) if (!p.default && !passed.includes(p.name)) problems.push(`${f.rel}:${m.at.row}: module "${m.symbol}" does not pass required parameter "${p.name}" of ${target.rel}`);
    }
  }
  return { name: 'azure.yaml, parameters and main.bicep agree', problems, summary: `service ${show(svcName)} (language custom, dist ${show(svc && svc.dist)}) = azd-service-name tag; main.parameters.json and module parameters match` };
}

function checkHostAndFunction(ctx) {
  const problems = [];
  const h = ctx.hostJson.value;
  if (!h) return { name: 'host.json and function.json', problems: ['host.json cannot be read'], summary: '' };
  const exe = h.customHandler && h.customHandler.description && h.customHandler.description.defaultExecutablePath;
  if (exe !== 'handler') problems.push(`host.json customHandler.description.defaultExecutablePath is ${show(exe)}, want 'handler' (docs/contract.md §1.1)`);
  const pkgPath = path.join(ctx.root, 'infra/scripts/package.sh');
  if (!fs.existsSync(pkgPath)) problems.push('infra/scripts/package.sh is missing');
  else {
    const pkg = fs.readFileSync(pkgPath, 'utf8');
    // The one build of the handler is infra/scripts/build.sh (make build runs it too); package.sh runs it
    // with the path inside the package.
    const buildPath = path.join(ctx.root, 'infra/scripts/build.sh');
    const buildSh = fs.existsSync(buildPath) ? fs.readFileSync(buildPath, 'utf8').replace(/\\\n/g, ' ') : '';
    if (!buildSh) problems.push('infra/scripts/build.sh is missing');
    const build = buildSh.split('\n').find((l) => /go build/.test(l) && !/^\s*#/.test(l)) || '';
    for (const need of ['GOOS=linux', 'GOARCH=amd64', 'CGO_ENABLED=0']) if (!build.includes(need)) problems.push(`infra/scripts/build.sh: the go build line lacks ${need}`);
    const call = pkg.split('\n').find((l) => /infra\/scripts\/build\.sh/.test(l) && !/^\s*#/.test(l) && !/^\s*echo/.test(l)) || '';
    const out = /build\.sh"?\s+"?([^"\s]+)"?/.exec(call);
    if (!out || path.posix.basename(out[1]) !== exe) problems.push(`infra/scripts/package.sh builds ${show(out && out[1])} with infra/scripts/build.sh, but host.json runs ${show(exe)}`);
    if (!/host\.json/.test(pkg) || !/function\.json/.test(pkg)) problems.push('infra/scripts/package.sh must put host.json and <function>/function.json in the package');
    if (pkg.split('\n').some((l) => !/^\s*#/.test(l) && /local\.settings/.test(l))) problems.push('infra/scripts/package.sh must not touch local.settings*.json (local values, maybe secrets)');
    if (!(fs.statSync(pkgPath).mode & 0o111)) problems.push('infra/scripts/package.sh is not executable');
  }
  const bundle = h.extensionBundle || {};
  if (bundle.id !== 'Microsoft.Azure.Functions.ExtensionBundle' || bundle.version !== '[4.*, 5.0.0)') problems.push(`host.json extensionBundle must be Microsoft.Azure.Functions.ExtensionBundle [4.*, 5.0.0) on Flex, is ${show(bundle.id)} ${show(bundle.version)}`);
  const ft = src.timespanSeconds(h.functionTimeout);
  const timeout = settingValue(ctx, 'PURGE_INVOCATION_TIMEOUT');
  const timeoutS = src.goDurationSeconds(typeof timeout === 'string' ? timeout : DEFAULT_INVOCATION_TIMEOUT);
  if (!Number.isNaN(ft) && !(ft > timeoutS)) problems.push(`host.json functionTimeout ${h.functionTimeout} must exceed PURGE_INVOCATION_TIMEOUT`);
  const renew = src.timespanSeconds(h.extensions && h.extensions.serviceBus && h.extensions.serviceBus.maxAutoLockRenewalDuration);
  if (!Number.isNaN(renew) && !(renew >= timeoutS)) problems.push('host.json maxAutoLockRenewalDuration must cover PURGE_INVOCATION_TIMEOUT');
  let triggers = 0;
  for (const fj of ctx.functionJsons) {
    if (!fj.value) continue;
    for (const b of fj.value.bindings || []) {
      if (b.type !== 'serviceBusTrigger') continue;
      triggers++;
      if (b.queueName !== '%PURGE_QUEUE_NAME%') problems.push(`${fj.rel}: queueName is ${show(b.queueName)}, want '%PURGE_QUEUE_NAME%' (the app setting infra owns)`);
      if (b.isSessionsEnabled === true) problems.push(`${fj.rel}: isSessionsEnabled true, but the trigger queue has no sessions`);
    }
  }
  if (!triggers) problems.push('no serviceBusTrigger binding in any function.json');
  return { name: 'host.json, function.json and packaging agree', problems, summary: `executable ${show(exe)} built linux/amd64 static by infra/scripts/build.sh, packaged by infra/scripts/package.sh; bundle [4.*, 5.0.0); ${triggers} Service Bus trigger on %PURGE_QUEUE_NAME%` };
}

function checkGraph(ctx) {
  const problems = [];
  const cfg = ctx.bicepconfig.value || {};
  const exts = cfg.extensions || {};
  const aliases = Object.entries(exts).filter(([, v]) => GRAPH_EXTENSION_RE.test(v)).map(([k]) => k);
  if (!aliases.length) problems.push(`infra/bicepconfig.json extensions has no Microsoft Graph dynamic-types extension (br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:<x.y.z>); has ${show(exts)}`);
  const grants = [];
  for (const f of ctx.project.files) {
    const graphResources = f.resources.filter((r) => r.type.startsWith('Microsoft.Graph/'));
    if (!graphResources.length) continue;
    if (!f.extensions.some((e) => aliases.includes(e))) problems.push(`${f.rel}: uses Microsoft.Graph types but has no "extension ${aliases[0] || 'microsoftGraphV1'}" line`);
    for (const r of graphResources.filter((x) => x.type === 'Microsoft.Graph/appRoleAssignedTo')) {
      grants.push(r);
      const id = prop(r.body, 'appRoleId');
      const lit = stringLiteral(id);
      if (lit && GUID_RE.test(lit)) problems.push(`${loc(r)}: appRoleId is a literal GUID; look it up by value in the Graph service principal's appRoles`);
      else if (!id || !findCalls(id, 'filter').length || !/appRoles/.test(JSON.stringify(id))) problems.push(`${loc(r)}: appRoleId must be looked up with filter(<graph sp>.appRoles, ...)`);
      if (!r.loop || r.loop.source.k !== 'id' || !f.params.has(r.loop.source.name)) problems.push(`${loc(r)}: the granted roles must be a parameter (for ... in <param>)`);
    }
  }
  if (!grants.length) problems.push('no Microsoft.Graph/appRoleAssignedTo resource: the identity would get no Graph permissions');
  const main = ctx.main;
  if (main) {
    const gm = main.modules.find((m) => grants.some((g) => g.file.abs === path.resolve(path.dirname(main.abs), m.path || '')));
    if (!gm) problems.push('infra/main.bicep does not deploy the Graph grant module');
    else {
      const condParams = gm.condition ? [...referencedSymbols(gm.condition, main)].filter((s) => main.params.has(s) && main.params.get(s).type === 'bool') : [];
      if (!condParams.length) problems.push(`infra/main.bicep:${gm.at.row}: the Graph grant needs an Entra admin, so module "${gm.symbol}" must be behind a bool parameter (if (grantGraphPermissions ...))`);
    }
    if (!main.outputs.some((o) => o.name === 'GRAPH_GRANT_COMMAND')) problems.push('infra/main.bicep has no GRAPH_GRANT_COMMAND output (the command an admin runs when the grant is off)');
    const script = path.join(ctx.root, 'infra/scripts/grant-graph-permissions.sh');
    if (!fs.existsSync(script)) problems.push('infra/scripts/grant-graph-permissions.sh is missing');
    else if (!(fs.statSync(script).mode & 0o111)) problems.push('infra/scripts/grant-graph-permissions.sh is not executable');
    if (main.vars.has('effectiveGraphAppRoles')) {
      const roles = ev(ctx, main.vars.get('effectiveGraphAppRoles').value, main);
      const types = ctx.project.paramValue(main, 'purgeAllowedTypes');
      if (Array.isArray(roles)) {
        for (const r of roles) if (!GRAPH_ROLES_ALLOWED.has(r)) problems.push(`Graph app role ${show(r)} is not one the purge needs (allowed: ${[...GRAPH_ROLES_ALLOWED].join(', ')})`);
        if (Array.isArray(types) && types.includes('user') && !roles.includes('User.DeleteRestore.All')) problems.push('users are purgeable (purgeAllowedTypes) but User.DeleteRestore.All is not granted');
        if (Array.isArray(types) && (types.includes('application') || types.includes('servicePrincipal')) && !roles.some((x) => /^Application\.ReadWrite\./.test(x))) problems.push('applications/service principals are purgeable but neither Application.ReadWrite.OwnedBy nor .All is granted');
        ctx.graphRoles = roles;
      }
    }
  }
  return { name: 'microsoft graph grant', problems, summary: `extension ${aliases.join(', ') || '?'}; roles looked up by value, behind a parameter, GRAPH_GRANT_COMMAND fallback${ctx.graphRoles ? `; default roles ${ctx.graphRoles.join(', ')}` : ''}` };
}

function checkCallers(ctx) {
  const problems = [];
  const flows = ctx.project.allResources().filter((r) => r.type === 'Microsoft.Logic/workflows' && !r.existing);
  for (const w of flows) {
    const idType = ev(ctx, prop(w.body, 'identity.type') || { k: 'none' }, w.file);
    if (typeof idType !== 'string' || !/Assigned/.test(idType)) problems.push(`${loc(w)}: Logic App "${w.symbol}" needs a managed identity (identity.type)`);
    const actions = prop(w.body, 'properties.definition.actions');
    const http = actions && actions.k === 'obj' ? actions.props.filter((p) => stringLiteral(prop(p.value, 'type')) === 'Http') : [];
    if (!http.length) problems.push(`${loc(w)}: Logic App "${w.symbol}" has no HTTP action sending to Service Bus`);
    for (const a of http) {
      const auth = stringLiteral(prop(a.value, 'inputs.authentication.type'));
      if (auth !== 'ManagedServiceIdentity') problems.push(`${w.file.rel}:${a.at.row}: action ${a.keyText} must authenticate with ManagedServiceIdentity, not ${show(auth)}`);
    }
  }
  if (flows.length && ctx.main) {
    const gated = ctx.main.modules.filter((m) => flows.some((w) => w.file.abs === path.resolve(path.dirname(ctx.main.abs), m.path || '')));
    for (const m of gated) {
      const conds = m.condition ? [...referencedSymbols(m.condition, ctx.main)].filter((s) => ctx.main.params.has(s)) : [];
      if (!conds.length) problems.push(`infra/main.bicep:${m.at.row}: Logic App module "${m.symbol}" must be behind a parameter`);
    }
  }
  return { name: 'logic app callers', problems, summary: `${flows.length} Logic App (Consumption) definition(s): managed identity, Service Bus send over Entra, behind parameters` };
}

// ---- the retention sweep --------------------------------------------------------------------------------------

// NCRONTAB as the Functions host reads it (docs/functions-host.md §7.1): six fields with seconds, or five.
const NCRONTAB_FIELDS = [
  ['second', 0, 59], ['minute', 0, 59], ['hour', 0, 23], ['day', 1, 31], ['month', 1, 12], ['day of week', 0, 6],
];
const NAMES = {
  month: ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'],
  'day of week': ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'],
};

function ncrontabProblem(expr) {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 6 && parts.length !== 5) return `has ${parts.length} fields; want 6 ({second} {minute} {hour} {day} {month} {day-of-week})`;
  const fields = parts.length === 6 ? NCRONTAB_FIELDS : NCRONTAB_FIELDS.slice(1);
  for (let i = 0; i < parts.length; i++) {
    const [name, min, max] = fields[i];
    for (const item of parts[i].split(',')) {
      const [range, step] = item.split('/');
      if (step !== undefined && !/^[1-9]\d*$/.test(step)) return `${name} field "${parts[i]}": bad step`;
      if (range === '*') continue;
      for (const v of range.split('-')) {
        if (/^\d+$/.test(v)) {
          if (Number(v) < min || Number(v) > max) return `${name} field "${parts[i]}": ${v} is outside ${min}-${max}`;
        } else if (!v || !(NAMES[name] || []).some((n) => n.startsWith(v.toLowerCase()))) {
          return `${name} field "${parts[i]}": "${v}" is not a value`;
        }
      }
    }
  }
  return '';
}

function checkSweep(ctx) {
  const name = 'retention sweep';
  const problems = [];
  const timers = [];
  for (const fj of ctx.functionJsons) {
    for (const b of (fj.value && fj.value.bindings) || []) if (b.type === 'timerTrigger') timers.push({ fj, b });
  }
  if (!timers.length) return { name, problems, summary: 'no timer function' };
  for (const { fj, b } of timers) {
    if (fj.rel !== 'sweep/function.json') problems.push(`${fj.rel}: the handler serves the timer as POST /sweep only; the function folder must be sweep/`);
    if (b.schedule !== '%PURGE_SWEEP_SCHEDULE%') problems.push(`${fj.rel}: schedule is ${show(b.schedule)}, want '%PURGE_SWEEP_SCHEDULE%' (the app setting infra owns)`);
    if (b.runOnStartup === true) problems.push(`${fj.rel}: runOnStartup true would sweep on every restart and scale-out (the documentation warns against it)`);
  }
  const disabled = settingValue(ctx, 'AzureWebJobs_sweep_Disabled');
  if (!ctx.appSettings.entries.has('AzureWebJobs_sweep_Disabled')) {
    problems.push('app setting AzureWebJobs_sweep_Disabled is not set: the sweep must be disabled unless a parameter enables it (docs/functions-host.md §2.7)');
  } else if (disabled !== UNKNOWN && disabled !== 'true' && disabled !== 'false') {
    problems.push(`app setting AzureWebJobs_sweep_Disabled is ${show(disabled)}: the host reads only true or 1 as disabled; write 'true' or 'false'`);
  } else if (disabled === 'false') {
    problems.push('app setting AzureWebJobs_sweep_Disabled is \'false\' with the default parameters: the sweep must be off until an azd parameter turns it on');
  }
  const schedule = settingValue(ctx, 'PURGE_SWEEP_SCHEDULE');
  if (typeof schedule === 'string') {
    const why = ncrontabProblem(schedule);
    if (why) problems.push(`PURGE_SWEEP_SCHEDULE is ${show(schedule)}: not an NCRONTAB schedule: ${why}`);
  }
  const after = settingValue(ctx, 'PURGE_SWEEP_AFTER');
  if (typeof after === 'string') {
    const s = src.goDurationSeconds(after);
    if (Number.isNaN(s) || s < 86400 || s > 30 * 86400) problems.push(`PURGE_SWEEP_AFTER is ${show(after)}: want a duration from 1d to 30d, such as 7d`);
  }
  const timeout = settingValue(ctx, 'PURGE_SWEEP_TIMEOUT');
  const ft = ctx.hostJson.value ? src.timespanSeconds(ctx.hostJson.value.functionTimeout) : NaN;
  if (typeof timeout === 'string') {
    const s = src.goDurationSeconds(timeout);
    if (Number.isNaN(s) || s < 30) problems.push(`PURGE_SWEEP_TIMEOUT is ${show(timeout)}: want a duration of at least 30s`);
    else if (!Number.isNaN(ft) && !(s < ft)) problems.push(`PURGE_SWEEP_TIMEOUT ${timeout} must stay below host.json functionTimeout ${ctx.hostJson.value.functionTimeout}, or the host kills the handler mid-run`);
  }
  const t = ctx.queues.trigger;
  if (t) {
    const w = prop(t.body, 'properties.duplicateDetectionHistoryTimeWindow');
    const ws = src.isoDurationSeconds(w ? ev(ctx, w, t.file) : undefined);
    if (!Number.isNaN(ws) && ws < 86400) problems.push(`${loc(t)}: trigger queue duplicateDetectionHistoryTimeWindow is shorter than P1D: the sweep's requests carry one MessageId per object and UTC day, and a repeated run that day must be dropped`);
  }
  return { name, problems, summary: `sweep/function.json on %PURGE_SWEEP_SCHEDULE% (${show(schedule)}), disabled unless enabled (${show(disabled)}), PURGE_SWEEP_AFTER ${show(after)}, PURGE_SWEEP_TIMEOUT below functionTimeout, duplicate window >= P1D` };
}

const CHECKS = [
  checkSyntax,
  checkJsonFiles,
  checkSettingsRequired,
  checkSettingsUsed,
  checkSettingsForbidden,
  checkSettingsWiring,
  checkRbacRequired,
  checkRbacNarrow,
  checkNoSecrets,
  checkLocalAuth,
  checkQueues,
  checkAlerts,
  checkFlex,
  checkScale,
  checkHostAndFunction,
  checkAzd,
  checkGraph,
  checkCallers,
  checkSweep,
];

function runChecks(root) {
  let ctx;
  try {
    ctx = loadContext(root);
  } catch (e) {
    return [{ name: 'load', problems: [`cannot read the project: ${e.message}`], summary: '' }];
  }
  return CHECKS.map((check) => {
    try {
      return check(ctx);
    } catch (e) {
      return { name: check.name, problems: [`checker error: ${e.stack || e.message}`], summary: '' };
    }
  });
}

module.exports = { runChecks, LOCAL_ONLY_SETTINGS, RBAC_RULES, ROLE, isKnown, ncrontabProblem };
