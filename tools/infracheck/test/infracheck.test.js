'use strict';
// Break a copy of the real infra/ on purpose and make sure the checker fails with a message naming the problem.
// Each test copies infra/, azure.yaml, host.json, purge/, sweep/ and local.settings.sample.json into a temp dir, plus a
// fixed Go settings file (so the tests do not depend on Go code being written in parallel).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { runChecks } = require('../lib/checks');

const REPO = path.resolve(__dirname, '..', '..', '..');
const CHECK_JS = path.resolve(__dirname, '..', 'check.js');

const GO_SETTINGS = `package config

// Fixture for tools/infracheck tests: the setting names of docs/contract.md §10.
const (
	EnvPort              = "FUNCTIONS_CUSTOMHANDLER_PORT"
	EnvSBConnection      = "ServiceBusConnection"
	EnvSBNamespace       = "ServiceBusConnection__fullyQualifiedNamespace"
	EnvQueue             = "PURGE_QUEUE_NAME"
	EnvFailedQueue       = "PURGE_FAILED_QUEUE_NAME"
	EnvCloud             = "PURGE_CLOUD"
	EnvGraphEndpoint     = "PURGE_GRAPH_ENDPOINT"
	EnvClientID          = "AZURE_CLIENT_ID"
	EnvIdentityEndpoint  = "IDENTITY_ENDPOINT"
	EnvMaxAttempts       = "PURGE_MAX_ATTEMPTS"
	EnvNotFoundGrace     = "PURGE_NOT_FOUND_GRACE"
	EnvRetryBaseDelay    = "PURGE_RETRY_BASE_DELAY"
	EnvRetryMaxDelay     = "PURGE_RETRY_MAX_DELAY"
	EnvInvocationTimeout = "PURGE_INVOCATION_TIMEOUT"
	EnvVerify            = "PURGE_VERIFY"
	EnvAllowedTypes      = "PURGE_ALLOWED_TYPES"
	EnvProtectedIDs      = "PURGE_PROTECTED_IDS"
	EnvMinDeletedAge     = "PURGE_MIN_DELETED_AGE"
	EnvAllowSynced       = "PURGE_ALLOW_SYNCED"
	EnvDryRun            = "PURGE_DRY_RUN"
	EnvLogLevel          = "PURGE_LOG_LEVEL"
	EnvMaxWritesPerSec   = "PURGE_MAX_WRITES_PER_SECOND"
	EnvSweepSchedule     = "PURGE_SWEEP_SCHEDULE"
	EnvSweepAfter        = "PURGE_SWEEP_AFTER"
	EnvSweepTimeout      = "PURGE_SWEEP_TIMEOUT"
)
`;

const temps = [];
test.after(() => {
  for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
});

function copyProject() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infracheck-'));
  temps.push(dir);
  for (const entry of ['infra', 'purge', 'sweep', 'azure.yaml', 'host.json', 'local.settings.sample.json']) {
    fs.cpSync(path.join(REPO, entry), path.join(dir, entry), { recursive: true });
  }
  fs.mkdirSync(path.join(dir, 'internal', 'config'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'internal', 'config', 'settings.go'), GO_SETTINGS);
  return dir;
}

// Replace exactly one occurrence, so a fixture that drifted fails loudly instead of testing nothing.
function edit(dir, rel, from, to) {
  const p = path.join(dir, rel);
  const text = fs.readFileSync(p, 'utf8');
  const count = text.split(from).length - 1;
  assert.equal(count, 1, `${rel} should contain ${JSON.stringify(from)} exactly once (found ${count})`);
  fs.writeFileSync(p, text.replace(from, to));
}

function editJson(dir, rel, mutate) {
  const p = path.join(dir, rel);
  const v = JSON.parse(fs.readFileSync(p, 'utf8'));
  mutate(v);
  fs.writeFileSync(p, JSON.stringify(v, null, 2));
}

function failures(dir) {
  return runChecks(dir).filter((r) => r.problems.length);
}

// Assert that exactly the named checks fail and that some problem matches each pattern.
function expectFailure(dir, checkName, ...patterns) {
  const failed = failures(dir);
  const hit = failed.find((r) => r.name === checkName);
  assert.ok(hit, `expected check "${checkName}" to fail; failed: ${JSON.stringify(failed.map((f) => f.name))}`);
  for (const re of patterns) {
    assert.ok(hit.problems.some((p) => re.test(p)), `no problem of "${checkName}" matches ${re}:\n${hit.problems.join('\n')}`);
  }
  return failed;
}

test('the real repository passes (npm test runs this checker on it too)', () => {
  const dir = copyProject();
  const failed = failures(dir);
  assert.deepEqual(failed.map((f) => `${f.name}: ${f.problems.join(' | ')}`), []);
});

test('CLI: one line per check, a final "N passed, N failed" line, exit 0', () => {
  const dir = copyProject();
  const r = spawnSync(process.execPath, [CHECK_JS, '--root', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[lines.length - 1], /^\d+ passed, 0 failed$/);
  assert.ok(lines.slice(0, -1).every((l) => /^ok {3}\S/.test(l)), r.stdout);
});

test('CLI: a broken template exits 1 and names the problem', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/core.bicep', "    PURGE_MAX_ATTEMPTS: string(purgeMaxAttempts)\n", '');
  const r = spawnSync(process.execPath, [CHECK_JS, '--root', dir], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^FAIL settings read by the app are set by infra: 1 problem$/m);
  assert.match(r.stdout, /app setting PURGE_MAX_ATTEMPTS \(used in local\.settings\.sample\.json, internal\/config\/settings\.go\) is not set by infra/);
  assert.match(r.stdout.trim().split('\n').pop(), /^\d+ passed, 1 failed$/);
});

test('a setting the Go code reads but infra does not set', () => {
  const dir = copyProject();
  fs.mkdirSync(path.join(dir, 'cmd', 'handler'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'cmd', 'handler', 'main.go'), 'package main\n\nimport "os"\n\nvar q = os.Getenv("PURGE_QUARANTINE_QUEUE")\n');
  expectFailure(dir, 'settings read by the app are set by infra', /PURGE_QUARANTINE_QUEUE \(used in cmd\/handler\/main\.go\) is not set by infra/);
});

test('local stand-ins: their own Getenv settings are ignored, PURGE_ literals are not', () => {
  const dir = copyProject();
  fs.mkdirSync(path.join(dir, 'standin', 'graphsim'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'standin', 'graphsim', 'command.go'), 'package graphsim\n\nimport "os"\n\nvar k = os.Getenv("STANDIN_ONLY_SETTING")\n');
  assert.deepEqual(failures(dir).map((f) => f.name), []);
  fs.appendFileSync(path.join(dir, 'standin', 'graphsim', 'command.go'), 'var p = os.Getenv("PURGE_SIM_ONLY")\n');
  expectFailure(dir, 'settings read by the app are set by infra', /PURGE_SIM_ONLY \(used in standin\/graphsim\/command\.go\)/);
});

test('only cmd/handler and internal/ are deployed: Getenv elsewhere under cmd/ is not a setting of the app', () => {
  const dir = copyProject();
  fs.mkdirSync(path.join(dir, 'cmd', 'tool'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'cmd', 'tool', 'main.go'), 'package main\n\nimport "os"\n\nvar k = os.Getenv("TOOL_ONLY")\n');
  assert.deepEqual(failures(dir).map((f) => f.name), []);
  fs.mkdirSync(path.join(dir, 'internal', 'app'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'internal', 'app', 'app.go'), 'package app\n\nimport "os"\n\nvar k = os.Getenv("APP_ONLY_SETTING")\n');
  expectFailure(dir, 'settings read by the app are set by infra', /APP_ONLY_SETTING \(used in internal\/app\/app\.go\)/);
});

test('Go test files do not count as readers', () => {
  const dir = copyProject();
  fs.writeFileSync(path.join(dir, 'internal', 'config', 'settings_test.go'), 'package config\n\nconst x = "PURGE_ONLY_IN_TESTS"\n');
  assert.deepEqual(failures(dir).map((f) => f.name), []);
});

test('a %SETTING% of function.json that infra does not set', () => {
  const dir = copyProject();
  editJson(dir, 'purge/function.json', (v) => { v.bindings[0].queueName = '%PURGE_TRIGGER_QUEUE%'; });
  expectFailure(dir, 'settings read by the app are set by infra', /PURGE_TRIGGER_QUEUE \(used in purge\/function\.json queueName\)/);
});

test('a misspelt setting is set but read by nobody', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/core.bicep', '    PURGE_LOG_LEVEL: purgeLogLevel', '    PURGE_LOGLEVEL: purgeLogLevel');
  expectFailure(dir, 'settings set by infra are read by something', /PURGE_LOGLEVEL .* nothing reads it/);
  expectFailure(dir, 'settings read by the app are set by infra', /PURGE_LOG_LEVEL .* not set by infra/);
});

test('a Service Bus connection string and FUNCTIONS_WORKER_RUNTIME as app settings', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/core.bicep', "    ServiceBusConnection__credential: 'managedidentity'\n",
    "    ServiceBusConnection__credential: 'managedidentity'\n    ServiceBusConnection: 'Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b'\n    FUNCTIONS_WORKER_RUNTIME: 'custom'\n");
  expectFailure(dir, 'no forbidden or secret app settings', /ServiceBusConnection .* must not be set in Azure/, /FUNCTIONS_WORKER_RUNTIME .* must not be set in Azure/);
  expectFailure(dir, 'no secrets, keys, listKeys() or connection strings', /looks like a key or connection string/);
});

test('a client-id setting that is not the user-assigned identity', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/core.bicep', '    AZURE_CLIENT_ID: identity.properties.clientId', "    AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000000'");
  expectFailure(dir, 'settings wired to the right resources', /AZURE_CLIENT_ID .* must be <user-assigned identity>\.properties\.clientId/);
});

test('a role widened from the trigger queue to the namespace', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/core.bicep',
    "  name: guid(triggerQueue.id, identity.id, roleIds.serviceBusDataReceiver)\n  scope: triggerQueue\n",
    "  name: guid(triggerQueue.id, identity.id, roleIds.serviceBusDataReceiver)\n  scope: serviceBus\n");
  expectFailure(dir, 'role assignments no broader than stated', /"triggerQueueReceiver" gives Azure Service Bus Data Receiver to the function identity at the Service Bus namespace "serviceBus": allowed only on the trigger queue/);
  expectFailure(dir, 'required role assignments', /missing role assignment: Azure Service Bus Data Receiver .* on the trigger queue/);
});

test('a role assignment without a scope (the whole resource group)', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/core.bicep', "  name: guid(storage.id, identity.id, roleIds.storageBlobDataOwner)\n  scope: storage\n", "  name: guid(storage.id, identity.id, roleIds.storageBlobDataOwner)\n");
  expectFailure(dir, 'role assignments no broader than stated', /Storage Blob Data Owner to the function identity at the whole resource group/);
});

test('Owner, Contributor or Service Bus Data Owner are refused', () => {
  const dir = copyProject();
  fs.appendFileSync(path.join(dir, 'infra/app/core.bicep'), `
resource sbOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(triggerQueue.id, identity.id, '090c5cfd-751d-490a-894a-3ce6f1109419')
  scope: triggerQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '090c5cfd-751d-490a-894a-3ce6f1109419')
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource rgContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, identity.id, 'b24988ac-6180-49a2-b749-bbc96a5d4d2b')
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b24988ac-6180-49a2-b749-bbc96a5d4d2b')
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}
`);
  expectFailure(dir, 'role assignments no broader than stated',
    /"sbOwner" gives Azure Service Bus Data Owner to the function identity at trigger queue: a role broader than this app needs/,
    /"rgContributor" gives Contributor to the function identity at the whole resource group/);
});

test('the Logic App caller may only send to the trigger queue', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/logic-app-caller.bicep', "  name: guid(triggerQueue.id, workflow.id, roleIds.serviceBusDataSender)\n  scope: triggerQueue\n", "  name: guid(serviceBus.id, workflow.id, roleIds.serviceBusDataSender)\n  scope: serviceBus\n");
  expectFailure(dir, 'role assignments no broader than stated', /Azure Service Bus Data Sender to the logic app caller at the Service Bus namespace/);
  expectFailure(dir, 'required role assignments', /missing role assignment: Azure Service Bus Data Sender .* logic app caller on the trigger queue/);
});

test('listKeys() anywhere', () => {
  const dir = copyProject();
  fs.appendFileSync(path.join(dir, 'infra/app/core.bicep'), "\nvar storageKey = storage.listKeys().keys[0].value\n");
  expectFailure(dir, 'no secrets, keys, listKeys() or connection strings', /core\.bicep:\d+: listKeys\(\) reads keys or secrets/);
});

test('an output exposing a connection string, and a secret parameter', () => {
  const dir = copyProject();
  fs.appendFileSync(path.join(dir, 'infra/app/core.bicep'), "\n@secure()\nparam sasToken string = ''\noutput aiConnection string = appInsights.properties.ConnectionString\n");
  expectFailure(dir, 'no secrets, keys, listKeys() or connection strings', /output "aiConnection" exposes a key or connection string/, /parameter "sasToken" would carry a secret/);
});

test('a script that reads keys', () => {
  const dir = copyProject();
  fs.appendFileSync(path.join(dir, 'infra/scripts/send-test-message.sh'), '\naz servicebus namespace authorization-rule keys list -g rg --namespace-name sb -n RootManageSharedAccessKey\n');
  expectFailure(dir, 'no secrets, keys, listKeys() or connection strings', /send-test-message\.sh:\d+: reads or contains a key/);
});

test('local auth switched back on', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/core.bicep', '    disableLocalAuth: true', '    disableLocalAuth: false');
  edit(dir, 'infra/app/core.bicep', '    allowSharedKeyAccess: false', '    allowSharedKeyAccess: true');
  edit(dir, 'infra/app/core.bicep', '    DisableLocalAuth: true', '    DisableLocalAuth: false');
  expectFailure(dir, 'local auth off (Service Bus, storage, App Insights, publishing)',
    /"serviceBus" properties\.disableLocalAuth is false, must be true/,
    /"storage" properties\.allowSharedKeyAccess is true, must be false/,
    /"appInsights" properties\.DisableLocalAuth is false, must be true/);
});

test('a lock shorter than the handler deadline, no duplicate detection', () => {
  const dir = copyProject();
  edit(dir, 'infra/main.bicep', "param triggerQueueLockDuration string = 'PT1M'", "param triggerQueueLockDuration string = 'PT30S'");
  edit(dir, 'infra/app/core.bicep', '    requiresSession: false\n    requiresDuplicateDetection: true\n', '    requiresSession: false\n');
  expectFailure(dir, 'queues', /lockDuration PT30S must exceed PURGE_INVOCATION_TIMEOUT 45s/, /requiresDuplicateDetection must be true/);
});

test('missing alerts', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/alerts.bicep', "    metric: 'DeadletteredMessages'", "    metric: 'IncomingMessages'");
  edit(dir, 'infra/app/alerts.bicep', '| where outcome in ("purged", "absent", "retry-scheduled", "failed", "dry-run")', '| where outcome in ("purged")');
  edit(dir, 'infra/app/alerts.bicep', '| summarize decisions = count(), failed = countif(outcome == "failed")', '| summarize decisions = count()');
  edit(dir, 'infra/app/alerts.bicep', '    description: \'More than ${failureRateThresholdPercent}% of purge decisions in ${failureRateWindow} were "failed" (failure queue). Look at the failure queue and the "reason" field of the handler log lines.\'', "    description: 'rate'");
  edit(dir, 'infra/app/alerts.bicep', '    displayName: \'entra-purge failure rate\'', "    displayName: 'rate'");
  expectFailure(dir, 'alerts', /no metric alert on dead-lettered messages on the trigger queue/, /no log alert on the purge failure rate/);
});

test('host.json concurrency beyond the Graph budget', () => {
  const dir = copyProject();
  editJson(dir, 'host.json', (v) => { v.extensions.serviceBus.maxConcurrentCalls = 32; });
  expectFailure(dir, 'scale respects Graph (host.json vs graphWritesPerSecond)', /1 instance\(s\) x maxConcurrentCalls 32 \(host\.json\) at 1000 ms per purge allow 32 Graph writes\/s, over graphWritesPerSecond 8: lower host\.json extensions\.serviceBus\.maxConcurrentCalls to at most 8/);
});

test('a hard-coded instance ceiling that ignores graphWritesPerSecond', () => {
  const dir = copyProject();
  edit(dir, 'infra/main.bicep', '    maximumInstanceCount: maximumInstanceCount\n', '    maximumInstanceCount: 40\n');
  expectFailure(dir, 'scale respects Graph (host.json vs graphWritesPerSecond)', /40 instance\(s\) x maxConcurrentCalls 8 .* allow 320 Graph writes\/s, over graphWritesPerSecond 8/);
});

test('more Graph writes than Graph allows', () => {
  const dir = copyProject();
  editJson(dir, 'infra/main.parameters.json', (v) => { v.parameters.graphWritesPerSecond.value = 50; });
  const failed = expectFailure(dir, 'scale respects Graph (host.json vs graphWritesPerSecond)', /graphWritesPerSecond 50 exceeds Graph's 20\/s/);
  assert.ok(failed.find((f) => f.name === 'azure.yaml, parameters and main.bicep agree').problems.some((p) => /above @maxValue\(20\)/.test(p)));
});

test('azure.yaml service name, language and the app tag disagree', () => {
  const dir = copyProject();
  edit(dir, 'azure.yaml', '  purger:\n', '  processor:\n');
  edit(dir, 'azure.yaml', '    language: custom\n', '    language: go\n');
  expectFailure(dir, 'azure.yaml, parameters and main.bicep agree',
    /azd-service-name is 'purger' but azure.yaml names the service 'processor'/,
    /language is go: azd's "go" is the native Go worker/);
});

test('a parameters file entry main.bicep does not declare', () => {
  const dir = copyProject();
  editJson(dir, 'infra/main.parameters.json', (v) => { v.parameters.maxInstances = { value: 4 }; });
  expectFailure(dir, 'azure.yaml, parameters and main.bicep agree', /main\.parameters\.json sets "maxInstances", which infra\/main\.bicep does not declare/);
});

test('host.json executable and the packaged binary disagree', () => {
  const dir = copyProject();
  editJson(dir, 'host.json', (v) => { v.customHandler.description.defaultExecutablePath = 'app'; });
  expectFailure(dir, 'host.json, function.json and packaging agree', /defaultExecutablePath is 'app', want 'handler'/, /package\.sh builds .*handler.*, but host\.json runs 'app'/);
});

test('a Bicep syntax error is located', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/alerts.bicep', "param severity int = 2", "param severity int = = 2");
  expectFailure(dir, 'bicep syntax', /infra\/app\/alerts\.bicep:\d+:\d+: syntax error/);
});

test('a literal app-role GUID and an unconditional Graph grant', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/graph-permissions.bicep', "  appRoleId: filter(graphSp.appRoles, appRole => appRole.value == role && contains(appRole.allowedMemberTypes, 'Application'))[0].id", "  appRoleId: 'eccc023d-eccf-4e7b-9683-8813ab36cecc'");
  edit(dir, 'infra/main.bicep', "module graph 'app/graph-permissions.bicep' = if (grantGraphPermissions && !empty(effectiveGraphAppRoles)) {", "module graph 'app/graph-permissions.bicep' = {");
  expectFailure(dir, 'microsoft graph grant', /appRoleId is a literal GUID/, /must be behind a bool parameter/);
});

test('a Graph permission broader than the purge needs', () => {
  const dir = copyProject();
  edit(dir, 'infra/main.bicep', "    'User.DeleteRestore.All'\n    'User.Read.All'\n", "    'Directory.ReadWrite.All'\n");
  expectFailure(dir, 'microsoft graph grant', /Graph app role 'Directory\.ReadWrite\.All' is not one the purge needs/, /User\.DeleteRestore\.All is not granted/);
});

test('the Graph extension missing from bicepconfig.json', () => {
  const dir = copyProject();
  editJson(dir, 'infra/bicepconfig.json', (v) => { delete v.extensions; });
  expectFailure(dir, 'microsoft graph grant', /bicepconfig\.json extensions has no Microsoft Graph dynamic-types extension/, /graph-permissions\.bicep: uses Microsoft\.Graph types but has no "extension/);
});

test('Flex Consumption rules', () => {
  const dir = copyProject();
  edit(dir, 'infra/app/core.bicep', "        name: 'custom'\n        version: '1.0'", "        name: 'go'\n        version: '1.0'");
  edit(dir, 'infra/app/core.bicep', "    siteConfig: {\n", "    siteConfig: {\n      linuxFxVersion: 'custom'\n");
  expectFailure(dir, 'flex consumption app', /runtime must be \{ name: 'custom', version: '1\.0' \}/);
  expectFailure(dir, 'no forbidden or secret app settings', /linuxFxVersion is not allowed on Flex Consumption/);
});

test('a role granted through a separate module is traced back to the function identity', () => {
  const dir = copyProject();
  fs.writeFileSync(path.join(dir, 'infra/app/rbac.bicep'), `param namespaceName string
param identityPrincipalId string

resource ns 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource nsReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ns.id, identityPrincipalId, '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0')
  scope: ns
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}
`);
  fs.appendFileSync(path.join(dir, 'infra/main.bicep'), `
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    namespaceName: core.outputs.serviceBusNamespaceName
    identityPrincipalId: core.outputs.identityPrincipalId
  }
}
`);
  expectFailure(dir, 'role assignments no broader than stated', /rbac\.bicep:\d+: "nsReceiver" gives Azure Service Bus Data Receiver to the function identity at the Service Bus namespace "ns"/);
});

test('the spread operator is reported with a hint', () => {
  const dir = copyProject();
  edit(dir, 'infra/main.bicep', "var tags = {\n  'azd-env-name': environmentName\n}", "var baseTags = {}\nvar tags = {\n  ...baseTags\n  'azd-env-name': environmentName\n}");
  expectFailure(dir, 'bicep syntax', /infra\/main\.bicep:\d+:\d+: syntax error .*spread operator/);
});

test('packaging: the one build is infra/scripts/build.sh, linux/amd64 static, run by package.sh for the handler', () => {
  const dir = copyProject();
  assert.deepEqual(failures(dir).map((r) => r.name), []);
  edit(dir, 'infra/scripts/build.sh', 'CGO_ENABLED=0 ', '');
  let bad = failures(dir).flatMap((r) => r.problems);
  assert.ok(bad.some((p) => /build\.sh: the go build line lacks CGO_ENABLED=0/.test(p)), bad.join('\n'));

  const other = copyProject();
  edit(other, 'infra/scripts/package.sh', 'build.sh" "$stage/handler"', 'build.sh" "$stage/purger"');
  bad = failures(other).flatMap((r) => r.problems);
  assert.ok(bad.some((p) => /package\.sh builds '\$stage\/purger' with infra\/scripts\/build\.sh, but host\.json runs 'handler'/.test(p)), bad.join('\n'));
});

test('scale: the handler\'s write limiter times the instances stays within graphWritesPerSecond', () => {
  const dir = copyProject();
  edit(dir, 'infra/main.bicep', 'var purgeMaxWritesPerSecond = max(1, graphWritesPerSecond / maximumInstanceCount)', 'var purgeMaxWritesPerSecond = graphWritesPerSecond * 2');
  const bad = failures(dir).flatMap((r) => r.problems);
  assert.ok(bad.some((p) => /PURGE_MAX_WRITES_PER_SECOND 16 x 1 instance\(s\) = 16 writes\/s, over graphWritesPerSecond 8/.test(p)), bad.join('\n'));
});

test('the retention sweep: disabled by default, its settings valid, its duplicate window a day', () => {
  const { ncrontabProblem } = require('../lib/checks');
  assert.equal(ncrontabProblem('0 0 3 * * *'), '');
  assert.equal(ncrontabProblem('0 30 9 * * Mon-Fri'), '');
  assert.match(ncrontabProblem('0 0 3 * *  * *'), /7 fields/);
  assert.match(ncrontabProblem('0 0 3 * * 7'), /outside 0-6/);

  const check = (dir) => failures(dir).find((r) => r.name === 'retention sweep');
  let dir = copyProject();
  edit(dir, 'infra/main.bicep', 'param sweepEnabled bool = false', 'param sweepEnabled bool = true');
  editJson(dir, 'infra/main.parameters.json', (v) => { delete v.parameters.sweepEnabled; });
  assert.match(check(dir).problems.join('\n'), /must be off until an azd parameter turns it on/);

  dir = copyProject();
  edit(dir, 'infra/main.bicep', "param purgeSweepSchedule string = '0 0 3 * * *'", "param purgeSweepSchedule string = '0 3 * * * * *'");
  editJson(dir, 'infra/main.parameters.json', (v) => { delete v.parameters.purgeSweepSchedule; delete v.parameters.purgeSweepAfter; });
  edit(dir, 'infra/main.bicep', "param purgeSweepAfter string = '7d'", "param purgeSweepAfter string = '12h'");
  edit(dir, 'infra/main.bicep', "param purgeSweepTimeout string = '4m'", "param purgeSweepTimeout string = '5m'");
  edit(dir, 'infra/main.bicep', "param duplicateDetectionWindow string = 'P1D'", "param duplicateDetectionWindow string = 'PT10M'");
  const p = check(dir).problems.join('\n');
  for (const want of [/PURGE_SWEEP_SCHEDULE .*7 fields/, /PURGE_SWEEP_AFTER is '12h'/, /PURGE_SWEEP_TIMEOUT 5m must stay below host.json functionTimeout/, /shorter than P1D/]) {
    assert.match(p, want);
  }

  dir = copyProject();
  edit(dir, 'infra/app/core.bicep', "    AzureWebJobs_sweep_Disabled: sweepEnabled ? 'false' : 'true'\n", '');
  editJson(dir, 'sweep/function.json', (v) => { v.bindings[0].runOnStartup = true; v.bindings[0].schedule = '0 0 3 * * *'; });
  const q = failures(dir).map((r) => r.problems.join('\n')).join('\n');
  for (const want of [/AzureWebJobs_sweep_Disabled is not set/, /runOnStartup true/, /want '%PURGE_SWEEP_SCHEDULE%'/]) assert.match(q, want);
});
