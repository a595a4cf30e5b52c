// entra-purge: everything in the resource group except the Microsoft Graph grant, the alerts and the
// optional Logic App callers. Deployed by ../main.bicep (scope: the resource group it creates).
//
// Security shape (tools/infracheck enforces every line of this):
//   * one user-assigned identity for host storage, the deployment container, Service Bus, App Insights and Graph;
//   * no keys anywhere: storage allowSharedKeyAccess false, Service Bus disableLocalAuth true,
//     App Insights DisableLocalAuth true (Entra-only ingestion), no listKeys(), no connection strings;
//   * each role assignment at the narrowest scope: the queue, the storage account, the App Insights component.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------------------------
// Parameters (main.bicep passes all of them; the defaults here are the same as main.bicep's)
// ---------------------------------------------------------------------------------------------------------------

param location string
param tags object

@description('Object id of the user or principal running azd; gets send access to the trigger queue and receive access to the failure queue for testing. Empty in pipelines.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Service name in azure.yaml; the function app is tagged azd-service-name with it so azd deploy finds it.')
param serviceName string = 'purger'

// Names
param identityName string
param storageAccountName string
param logAnalyticsName string
param appInsightsName string
param serviceBusNamespaceName string
param planName string
param functionAppName string

@description('Trigger queue (PURGE_QUEUE_NAME). Scheduled retries are sent back to it.')
param purgeQueueName string = 'purge-requests'

@description('Failure queue (PURGE_FAILED_QUEUE_NAME): the handler sends what it cannot purge here, with the reason.')
param failureQueueName string = 'purge-failed'

// Sizes
@allowed([
  'Standard'
  'Premium'
])
@description('Service Bus tier. Duplicate detection needs Standard or Premium.')
param serviceBusSku string = 'Standard'

@minValue(1)
@maxValue(2000)
@description('Deliveries before Service Bus moves a trigger message to its own $DeadLetterQueue. The handler settles every message itself; only "could not secure the message" answers (failure queue unreachable) are abandoned and count here.')
param maxDeliveryCount int = 10

@description('Trigger queue lock (ISO 8601, at most PT5M). Must exceed PURGE_INVOCATION_TIMEOUT; the host renews it up to host.json maxAutoLockRenewalDuration.')
param triggerQueueLockDuration string = 'PT1M'

@description('Duplicate-detection window of the trigger queue: a second copy of the same scheduled retry (same MessageId) inside it is dropped, and so is a retention-sweep request repeated within its UTC day (hence P1D). Duplicate detection cannot be turned off after the queue exists; the window can be changed.')
param duplicateDetectionWindow string = 'P1D'

@description('Time-to-live of purge requests; expired requests go to the trigger queue\'s $DeadLetterQueue (alerted).')
param messageTimeToLive string = 'P14D'

@description('Time-to-live of failure-queue messages; expired ones go to that queue\'s $DeadLetterQueue, never silently away.')
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

@minValue(1)
@maxValue(1000)
@description('Flex Consumption scale-out ceiling, computed in main.bicep from graphWritesPerSecond and host.json maxConcurrentCalls.')
param maximumInstanceCount int = 1

// Handler settings (docs/contract.md §10). Values are passed as app settings; see main.bicep for their meaning.
@allowed([
  'AzureCloud'
  'AzureUSGovernment'
  'AzureUSGovernmentDoD'
  'AzureChinaCloud'
])
param purgeCloud string = 'AzureCloud'
param purgeMaxAttempts int = 8
param purgeNotFoundGrace string = '15m'
param purgeRetryBaseDelay string = '30s'
param purgeRetryMaxDelay string = '15m'
param purgeInvocationTimeout string = '45s'
param purgeVerify bool = true
param purgeAllowedTypes array = [
  'user'
  'application'
  'servicePrincipal'
]
param purgeProtectedIds array = []
param purgeMinDeletedAge string = '0'
param purgeAllowSynced bool = false
param purgeDryRun bool = false
param purgeLogLevel string = 'info'
@minValue(1)
@maxValue(20)
@description('PURGE_MAX_WRITES_PER_SECOND: each instance\'s share of the Graph write budget, computed in main.bicep.')
param purgeMaxWritesPerSecond int = 8
@description('Enables the sweep function (AzureWebJobs_sweep_Disabled false); off by default.')
param sweepEnabled bool = false
param purgeSweepSchedule string = '0 0 3 * * *'
param purgeSweepAfter string = '7d'
param purgeSweepTimeout string = '4m'

// ---------------------------------------------------------------------------------------------------------------
// Variables
// ---------------------------------------------------------------------------------------------------------------

// Built-in role definition ids (the same in every tenant). Nothing else is ever assigned.
var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var deploymentContainerName = toLower('app-package-${take(functionAppName, 32)}-${take(uniqueString(resourceGroup().id, functionAppName), 7)}')

// "sb-xyz.servicebus.windows.net" from "https://sb-xyz.servicebus.windows.net:443/", whatever the cloud's suffix.
var serviceBusFqdn = split(split(replace(serviceBus.properties.serviceBusEndpoint, 'https://', ''), ':')[0], '/')[0]

// ---------------------------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------------------------

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Storage: host storage (AzureWebJobsStorage over identity) and the Flex deployment-package container
// ---------------------------------------------------------------------------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Service Bus: namespace (local auth off), trigger queue, failure queue
// ---------------------------------------------------------------------------------------------------------------

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: serviceBusNamespaceName
  location: location
  tags: tags
  sku: {
    name: serviceBusSku
    tier: serviceBusSku
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource triggerQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: serviceBus
  name: purgeQueueName
  properties: {
    maxDeliveryCount: maxDeliveryCount
    lockDuration: triggerQueueLockDuration
    defaultMessageTimeToLive: messageTimeToLive
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    enableBatchedOperations: true
  }
}

resource failureQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: serviceBus
  name: failureQueueName
  properties: {
    // `handler replay --reason X` puts back (abandons) each message of another reason once per run, and an
    // abandon counts as a delivery: a high count keeps filtered replays from dead-lettering them.
    maxDeliveryCount: 100
    lockDuration: 'PT1M'
    defaultMessageTimeToLive: failureQueueMessageTimeToLive
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    // The handler derives a failure copy's MessageId from the delivered message's id, so a copy sent twice
    // (the handler crashed between sending it and answering the host) is dropped here.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    enableBatchedOperations: true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Flex Consumption plan and function app (custom handler)
// ---------------------------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// No publishing profiles: azd and the Core Tools deploy with Entra tokens.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// Every setting host.json, purge/function.json and the Go handler read (docs/contract.md §10), and nothing secret.
// Not here on purpose: ServiceBusConnection (a connection string: local emulator only), FUNCTIONS_WORKER_RUNTIME
// (rejected on Flex; the runtime is functionAppConfig.runtime), PURGE_GRAPH_ENDPOINT (simulator/proxy override;
// PURGE_CLOUD picks the Graph root), IDENTITY_* and FUNCTIONS_CUSTOMHANDLER_PORT (set by the platform).
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // Host storage over the managed identity (no account key exists: allowSharedKeyAccess is false).
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId

    // Telemetry with Entra authentication. The connection string only locates the component; with
    // DisableLocalAuth true its instrumentation key cannot ingest anything on its own.
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'

    // The trigger binding ("connection": "ServiceBusConnection") and the handler's sender.
    ServiceBusConnection__fullyQualifiedNamespace: serviceBusFqdn
    ServiceBusConnection__credential: 'managedidentity'
    ServiceBusConnection__clientId: identity.properties.clientId

    // azidentity in the handler (Graph and Service Bus) uses the user-assigned identity.
    AZURE_CLIENT_ID: identity.properties.clientId

    PURGE_QUEUE_NAME: triggerQueue.name
    PURGE_FAILED_QUEUE_NAME: failureQueue.name
    PURGE_CLOUD: purgeCloud
    PURGE_MAX_ATTEMPTS: string(purgeMaxAttempts)
    PURGE_NOT_FOUND_GRACE: purgeNotFoundGrace
    PURGE_RETRY_BASE_DELAY: purgeRetryBaseDelay
    PURGE_RETRY_MAX_DELAY: purgeRetryMaxDelay
    PURGE_INVOCATION_TIMEOUT: purgeInvocationTimeout
    PURGE_VERIFY: purgeVerify ? 'true' : 'false'
    PURGE_ALLOWED_TYPES: join(purgeAllowedTypes, ',')
    PURGE_PROTECTED_IDS: join(purgeProtectedIds, ',')
    PURGE_MIN_DELETED_AGE: purgeMinDeletedAge
    PURGE_ALLOW_SYNCED: purgeAllowSynced ? 'true' : 'false'
    PURGE_DRY_RUN: purgeDryRun ? 'true' : 'false'
    PURGE_LOG_LEVEL: purgeLogLevel
    PURGE_MAX_WRITES_PER_SECOND: string(purgeMaxWritesPerSecond)

    // The retention sweep (sweep/function.json, a timer). Disabled the Functions way unless sweepEnabled:
    // the host reads AzureWebJobs_<function>_Disabled, the form Linux environment variables can carry.
    AzureWebJobs_sweep_Disabled: sweepEnabled ? 'false' : 'true'
    PURGE_SWEEP_SCHEDULE: purgeSweepSchedule
    PURGE_SWEEP_AFTER: purgeSweepAfter
    PURGE_SWEEP_TIMEOUT: purgeSweepTimeout
  }
  // Start the host only once it may use its storage and queues.
  dependsOn: [
    storageBlobDataOwner
    triggerQueueReceiver
    triggerQueueSender
    failureQueueSender
    appInsightsMetricsPublisher
  ]
}

// ---------------------------------------------------------------------------------------------------------------
// Role assignments: the function identity (principalType ServicePrincipal), each at its resource
// ---------------------------------------------------------------------------------------------------------------

resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roleIds.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'entra-purge host storage and deployment package (Flex Consumption)'
  }
}

resource triggerQueueReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(triggerQueue.id, identity.id, roleIds.serviceBusDataReceiver)
  scope: triggerQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataReceiver)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'entra-purge trigger: receive purge requests'
  }
}

resource triggerQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(triggerQueue.id, identity.id, roleIds.serviceBusDataSender)
  scope: triggerQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'entra-purge handler: send scheduled retry copies back to the trigger queue'
  }
}

resource failureQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(failureQueue.id, identity.id, roleIds.serviceBusDataSender)
  scope: failureQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'entra-purge handler: send failures to the failure queue'
  }
}

resource appInsightsMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'entra-purge telemetry with Entra authentication'
  }
}

// The person (or pipeline principal) running azd: send test requests, read failures. Queue-scoped too.
resource deployerTriggerQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(triggerQueue.id, principalId, roleIds.serviceBusDataSender)
  scope: triggerQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
    principalId: principalId
    principalType: principalType
    description: 'entra-purge deployer: send test purge requests'
  }
}

resource deployerFailureQueueReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(failureQueue.id, principalId, roleIds.serviceBusDataReceiver)
  scope: failureQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataReceiver)
    principalId: principalId
    principalType: principalType
    description: 'entra-purge deployer: read the failure queue'
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------------------------

output functionAppName string = functionApp.name
output identityName string = identity.name
output identityPrincipalId string = identity.properties.principalId
output identityClientId string = identity.properties.clientId
output serviceBusNamespaceName string = serviceBus.name
output serviceBusFqdn string = serviceBusFqdn
output serviceBusEndpoint string = serviceBus.properties.serviceBusEndpoint
output purgeQueueName string = triggerQueue.name
output failureQueueName string = failureQueue.name
output appInsightsName string = appInsights.name
output logAnalyticsName string = logAnalytics.name
output storageAccountName string = storage.name
