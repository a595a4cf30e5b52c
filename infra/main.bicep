// entra-purge: `azd up` entry point (subscription scope; creates the resource group).
//
//   app/core.bicep              identity, storage, Log Analytics + App Insights, Service Bus + queues,
//                               Flex Consumption plan + function app, app settings, role assignments
//   app/alerts.bicep            action group, failure-queue / trigger-DLQ metric alerts, failure-rate log alert
//   app/graph-permissions.bicep Microsoft Graph app roles for the identity (needs an Entra admin; optional)
//   app/logic-app-caller.bicep  optional Logic App callers (HTTP, Lifecycle Workflows)
//
// Offline proof: tools/infracheck (syntax + consistency with host.json, purge/function.json, the Go settings,
// azure.yaml). Online proof: infra/scripts/validate-online.sh (bicep build, validate, what-if).

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------------------------
// azd environment
// ---------------------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the resource token.')
param environmentName string

@minLength(1)
@metadata({
  azd: {
    type: 'location'
  }
})
@description('Region for all resources; it must offer Flex Consumption.')
param location string

@description('Object id of the user or principal running azd (AZURE_PRINCIPAL_ID): Data Sender on the trigger queue and Data Receiver on the failure queue, for testing. Empty in pipelines.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

// ---------------------------------------------------------------------------------------------------------------
// Names (empty: generated from the resource token)
// ---------------------------------------------------------------------------------------------------------------

param resourceGroupName string = ''
param identityName string = ''
param storageAccountName string = ''
param logAnalyticsName string = ''
param appInsightsName string = ''
param serviceBusNamespaceName string = ''
param planName string = ''
param functionAppName string = ''

@description('Service name in azure.yaml (services.<name>); the function app carries it as its azd-service-name tag.')
param serviceName string = 'purger'

@description('Trigger queue: PURGE_QUEUE_NAME.')
param purgeQueueName string = 'purge-requests'

@description('Failure queue: PURGE_FAILED_QUEUE_NAME.')
param failureQueueName string = 'purge-failed'

// ---------------------------------------------------------------------------------------------------------------
// Sizes and queue behaviour
// ---------------------------------------------------------------------------------------------------------------

@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@minValue(1)
@maxValue(2000)
param maxDeliveryCount int = 10

@description('Trigger-queue lock, ISO 8601, at most PT5M; must exceed purgeInvocationTimeout (tools/infracheck checks it).')
param triggerQueueLockDuration string = 'PT1M'

@description('Duplicate-detection window of the trigger queue (drops a repeated retry copy with the same MessageId, and the retention sweep\'s requests repeated within a UTC day: at least P1D).')
param duplicateDetectionWindow string = 'P1D'

param messageTimeToLive string = 'P14D'
param failureQueueMessageTimeToLive string = 'P30D'

@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// ---------------------------------------------------------------------------------------------------------------
// Scale that respects Microsoft Graph
// ---------------------------------------------------------------------------------------------------------------

@minValue(1)
@maxValue(20)
@description('Graph writes per second this deployment may cause at most. Graph allows 3,000 writes per 150 s per app and tenant (20/s) and 18,000 per 5 min per tenant across all apps; leave room for other writers. Capacity table: infra/README.md.')
param graphWritesPerSecond int = 8

@minValue(100)
@maxValue(60000)
@description('Assumed time one purge holds a concurrency slot (GET + DELETE + settle), in ms. Measure it: p50 of durationMs in the handler logs (infra/README.md), and lower it if purges are faster.')
param purgeMilliseconds int = 1000

// ---------------------------------------------------------------------------------------------------------------
// Handler settings (docs/contract.md §10)
// ---------------------------------------------------------------------------------------------------------------

@allowed([
  'AzureCloud'
  'AzureUSGovernment'
  'AzureUSGovernmentDoD'
  'AzureChinaCloud'
])
@description('PURGE_CLOUD: the Microsoft cloud whose Graph is called. Defaults to the cloud of this deployment (pick AzureUSGovernmentDoD by hand).')
param purgeCloud string = environment().name

@minValue(1)
@maxValue(100)
@description('PURGE_MAX_ATTEMPTS')
param purgeMaxAttempts int = 8

@description('PURGE_NOT_FOUND_GRACE: how long a 404 counts as replication lag.')
param purgeNotFoundGrace string = '15m'

@description('PURGE_RETRY_BASE_DELAY')
param purgeRetryBaseDelay string = '30s'

@description('PURGE_RETRY_MAX_DELAY')
param purgeRetryMaxDelay string = '15m'

@description('PURGE_INVOCATION_TIMEOUT: the handler\'s own deadline per message; below triggerQueueLockDuration.')
param purgeInvocationTimeout string = '45s'

@description('PURGE_VERIFY: GET the deleted item before deleting it (type, age and sync guards need it).')
param purgeVerify bool = true

@description('PURGE_ALLOWED_TYPES. Groups cannot be purged app-only; the Graph permissions granted follow this list.')
param purgeAllowedTypes array = [
  'user'
  'application'
  'servicePrincipal'
]

@description('PURGE_PROTECTED_IDS: object ids never purged (break-glass accounts, service accounts).')
param purgeProtectedIds array = []

@description('PURGE_MIN_DELETED_AGE, e.g. 0, 24h or 7d.')
param purgeMinDeletedAge string = '0'

@description('PURGE_ALLOW_SYNCED: allow purging users synced from on-premises.')
param purgeAllowSynced bool = false

@description('PURGE_DRY_RUN: decide and log, never write. A safe first deployment.')
param purgeDryRun bool = false

@allowed([
  'trace'
  'debug'
  'info'
  'warn'
  'error'
])
param purgeLogLevel string = 'info'

@description('Enable the retention sweep (the sweep function: a timer that enqueues every object deleted more than purgeSweepAfter ago). Off by default: the app setting AzureWebJobs_sweep_Disabled is true. Try `handler sweep --dry-run` first.')
param sweepEnabled bool = false

@description('PURGE_SWEEP_SCHEDULE: NCRONTAB with seconds, UTC (Flex Consumption has no time zones). Default daily at 03:00.')
param purgeSweepSchedule string = '0 0 3 * * *'

@description('PURGE_SWEEP_AFTER: how long after deletion the sweep enqueues an object, 1d to 30d (your promised erasure, e.g. 7d or 14d).')
param purgeSweepAfter string = '7d'

@description('PURGE_SWEEP_TIMEOUT: the deadline of one sweep run; below host.json functionTimeout.')
param purgeSweepTimeout string = '4m'

// ---------------------------------------------------------------------------------------------------------------
// Microsoft Graph permissions
// ---------------------------------------------------------------------------------------------------------------

@description('Grant the Graph app roles in this deployment (needs an Entra admin: Privileged Role Administrator or Global Administrator). false: the deployment outputs GRAPH_GRANT_COMMAND for an admin to run.')
param grantGraphPermissions bool = true

@allowed([
  'Application.ReadWrite.OwnedBy'
  'Application.ReadWrite.All'
])
@description('Permission for purging applications and service principals. OwnedBy (least privilege) only covers objects the identity owns.')
param applicationPermission string = 'Application.ReadWrite.OwnedBy'

@description('Explicit list of Graph app-role values to grant. Empty: derived from purgeAllowedTypes with graphRolesByType below.')
param graphAppRoles array = []

// ---------------------------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------------------------

@description('Resource id of an existing action group for the alerts. Empty: one is created (with alertEmail as its receiver, if set).')
param actionGroupId string = ''

@description('Email receiver of the created action group. Empty: none.')
param alertEmail string = ''

@minValue(1)
@maxValue(100)
param failureRateThresholdPercent int = 10

@minValue(1)
param failureRateMinimumDecisions int = 5

// ---------------------------------------------------------------------------------------------------------------
// Callers (Logic Apps, Consumption)
// ---------------------------------------------------------------------------------------------------------------

@description('Deploy the HTTP caller: POST {id,type,reason,requestedBy} to a Logic App that enqueues it.')
param deployHttpCaller bool = false

@description('Deploy the Lifecycle Workflows caller (custom task extension target).')
param deployLifecycleWorkflowsCaller bool = false

@minValue(0)
@description('Lifecycle Workflows caller: minutes between the callout and the earliest purge (notBefore).')
param lifecycleWorkflowsPurgeDelayMinutes int = 60

param httpCallerName string = ''
param lifecycleWorkflowsCallerName string = ''

@description('HTTP caller: caller IP ranges (CIDR) allowed to call it. Empty: any address holding the callback URL.')
param httpCallerAllowedIpRanges array = []

// ---------------------------------------------------------------------------------------------------------------
// Variables
// ---------------------------------------------------------------------------------------------------------------

var tags = {
  'azd-env-name': environmentName
}

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))

var names = {
  resourceGroup: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  identity: empty(identityName) ? 'id-${resourceToken}' : identityName
  storage: empty(storageAccountName) ? 'st${resourceToken}' : storageAccountName
  logAnalytics: empty(logAnalyticsName) ? 'log-${resourceToken}' : logAnalyticsName
  appInsights: empty(appInsightsName) ? 'appi-${resourceToken}' : appInsightsName
  serviceBus: empty(serviceBusNamespaceName) ? 'sb-${resourceToken}' : serviceBusNamespaceName
  plan: empty(planName) ? 'plan-${resourceToken}' : planName
  functionApp: empty(functionAppName) ? 'func-${resourceToken}' : functionAppName
  httpCaller: empty(httpCallerName) ? 'logic-purge-http-${resourceToken}' : httpCallerName
  lifecycleWorkflowsCaller: empty(lifecycleWorkflowsCallerName) ? 'logic-purge-lcw-${resourceToken}' : lifecycleWorkflowsCallerName
}

// Per-instance concurrency of the Service Bus trigger, read from host.json so the two can never disagree.
var maxConcurrentCalls = loadJsonContent('../host.json').extensions.serviceBus.maxConcurrentCalls

// Concurrency slots that produce at most graphWritesPerSecond (each purge is one Graph write and holds its
// slot purgeMilliseconds), then whole instances of maxConcurrentCalls slots each, at least one.
var graphWriteSlots = (graphWritesPerSecond * purgeMilliseconds) / 1000
var maximumInstanceCount = max(1, graphWriteSlots / maxConcurrentCalls)

// Each instance's share of the budget: the ceiling of the handler's own write limiter, which paces every
// instance's writes however fast Graph answers (and slows down further when Graph warns or throttles).
var purgeMaxWritesPerSecond = max(1, graphWritesPerSecond / maximumInstanceCount)

// Microsoft Graph application permissions per object type (docs/graph.md §2.1): the DELETE permission plus the read
// permission the GET-before-DELETE (PURGE_VERIFY) needs. Groups cannot be purged app-only: nothing to grant.
var graphRolesByType = {
  user: [
    'User.DeleteRestore.All'
    'User.Read.All'
  ]
  application: [
    applicationPermission
    'Application.Read.All'
  ]
  servicePrincipal: [
    applicationPermission
    'Application.Read.All'
  ]
  group: []
  administrativeUnit: []
}

var effectiveGraphAppRoles = empty(graphAppRoles) ? union(flatten(map(purgeAllowedTypes, t => graphRolesByType[?t] ?? [])), []) : graphAppRoles

var graphAppId = '00000003-0000-0000-c000-000000000000'

var graphUrls = {
  AzureCloud: 'https://graph.microsoft.com'
  AzureUSGovernment: 'https://graph.microsoft.us'
  AzureUSGovernmentDoD: 'https://dod-graph.microsoft.us'
  AzureChinaCloud: 'https://microsoftgraph.chinacloudapi.cn'
}
var graphUrl = graphUrls[purgeCloud]

// ---------------------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module core 'app/core.bicep' = {
  name: 'core'
  scope: rg
  params: {
    location: location
    tags: tags
    principalId: principalId
    principalType: principalType
    serviceName: serviceName
    identityName: names.identity
    storageAccountName: names.storage
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    serviceBusNamespaceName: names.serviceBus
    planName: names.plan
    functionAppName: names.functionApp
    purgeQueueName: purgeQueueName
    failureQueueName: failureQueueName
    serviceBusSku: serviceBusSku
    maxDeliveryCount: maxDeliveryCount
    triggerQueueLockDuration: triggerQueueLockDuration
    duplicateDetectionWindow: duplicateDetectionWindow
    messageTimeToLive: messageTimeToLive
    failureQueueMessageTimeToLive: failureQueueMessageTimeToLive
    logRetentionInDays: logRetentionInDays
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    purgeCloud: purgeCloud
    purgeMaxAttempts: purgeMaxAttempts
    purgeNotFoundGrace: purgeNotFoundGrace
    purgeRetryBaseDelay: purgeRetryBaseDelay
    purgeRetryMaxDelay: purgeRetryMaxDelay
    purgeInvocationTimeout: purgeInvocationTimeout
    purgeVerify: purgeVerify
    purgeAllowedTypes: purgeAllowedTypes
    purgeProtectedIds: purgeProtectedIds
    purgeMinDeletedAge: purgeMinDeletedAge
    purgeAllowSynced: purgeAllowSynced
    purgeDryRun: purgeDryRun
    purgeLogLevel: purgeLogLevel
    purgeMaxWritesPerSecond: purgeMaxWritesPerSecond
    sweepEnabled: sweepEnabled
    purgeSweepSchedule: purgeSweepSchedule
    purgeSweepAfter: purgeSweepAfter
    purgeSweepTimeout: purgeSweepTimeout
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    serviceBusNamespaceName: core.outputs.serviceBusNamespaceName
    purgeQueueName: core.outputs.purgeQueueName
    failureQueueName: core.outputs.failureQueueName
    appInsightsName: core.outputs.appInsightsName
    actionGroupId: actionGroupId
    alertEmail: alertEmail
    failureRateThresholdPercent: failureRateThresholdPercent
    failureRateMinimumDecisions: failureRateMinimumDecisions
  }
}

// After core: a freshly created identity needs a moment to replicate to Graph. If the first run fails with
// "Not a valid reference update", run `azd provision` again.
module graph 'app/graph-permissions.bicep' = if (grantGraphPermissions && !empty(effectiveGraphAppRoles)) {
  name: 'graph-permissions'
  scope: rg
  params: {
    principalId: core.outputs.identityPrincipalId
    appRoles: effectiveGraphAppRoles
  }
}

module httpCaller 'app/logic-app-caller.bicep' = if (deployHttpCaller) {
  name: 'caller-http'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.httpCaller
    mode: 'http'
    serviceBusNamespaceName: core.outputs.serviceBusNamespaceName
    purgeQueueName: core.outputs.purgeQueueName
    allowedCallerIpRanges: httpCallerAllowedIpRanges
  }
}

module lifecycleWorkflowsCaller 'app/logic-app-caller.bicep' = if (deployLifecycleWorkflowsCaller) {
  name: 'caller-lifecycle-workflows'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.lifecycleWorkflowsCaller
    mode: 'lifecycleWorkflows'
    serviceBusNamespaceName: core.outputs.serviceBusNamespaceName
    purgeQueueName: core.outputs.purgeQueueName
    purgeDelayMinutes: lifecycleWorkflowsPurgeDelayMinutes
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The Graph grant an admin runs when grantGraphPermissions is false (same steps as
// infra/scripts/grant-graph-permissions.sh, which also skips roles already granted).
// ---------------------------------------------------------------------------------------------------------------

var grantScriptCommand = 'sh infra/scripts/grant-graph-permissions.sh --principal-id ${core.outputs.identityPrincipalId} --roles ${join(effectiveGraphAppRoles, ',')} --graph-url ${graphUrl}'

var grantAzCommands = join([
  'GRAPH_SP=$(az ad sp show --id ${graphAppId} --query id -o tsv)'
  'for ROLE in ${join(effectiveGraphAppRoles, ' ')}; do'
  '  ROLE_ID=$(az ad sp show --id ${graphAppId} --query "appRoles[?value==\'$ROLE\' && contains(allowedMemberTypes, \'Application\')].id | [0]" -o tsv)'
  '  az rest --method POST --uri "${graphUrl}/v1.0/servicePrincipals/$GRAPH_SP/appRoleAssignedTo" --headers Content-Type=application/json --body "{\\"principalId\\":\\"${core.outputs.identityPrincipalId}\\",\\"resourceId\\":\\"$GRAPH_SP\\",\\"appRoleId\\":\\"$ROLE_ID\\"}"'
  'done'
], '\n')

// ---------------------------------------------------------------------------------------------------------------
// Outputs (azd environment values)
// ---------------------------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = core.outputs.functionAppName
output SERVICE_PURGER_NAME string = core.outputs.functionAppName
output SERVICE_BUS_NAMESPACE string = core.outputs.serviceBusNamespaceName
output SERVICE_BUS_NAMESPACE_FQDN string = core.outputs.serviceBusFqdn
output SERVICE_BUS_ENDPOINT string = core.outputs.serviceBusEndpoint
output PURGE_QUEUE_NAME string = core.outputs.purgeQueueName
output PURGE_FAILED_QUEUE_NAME string = core.outputs.failureQueueName
output FUNCTION_IDENTITY_NAME string = core.outputs.identityName
output FUNCTION_IDENTITY_PRINCIPAL_ID string = core.outputs.identityPrincipalId
output FUNCTION_IDENTITY_CLIENT_ID string = core.outputs.identityClientId
output APPLICATIONINSIGHTS_NAME string = core.outputs.appInsightsName
output MAXIMUM_INSTANCE_COUNT int = maximumInstanceCount
output MAX_CONCURRENT_CALLS int = maxConcurrentCalls
output GRAPH_URL string = graphUrl
output GRAPH_APP_ROLES string = join(effectiveGraphAppRoles, ',')
output GRAPH_PERMISSIONS_GRANTED bool = grantGraphPermissions && !empty(effectiveGraphAppRoles)
output GRAPH_GRANT_COMMAND string = grantScriptCommand
output GRAPH_GRANT_AZ_COMMANDS string = grantAzCommands
output ALERT_ACTION_GROUP_ID string = alerts.outputs.actionGroupId
output HTTP_CALLER_LOGIC_APP_NAME string = deployHttpCaller ? names.httpCaller : ''
output LIFECYCLE_WORKFLOWS_LOGIC_APP_NAME string = deployLifecycleWorkflowsCaller ? names.lifecycleWorkflowsCaller : ''
