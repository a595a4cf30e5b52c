// A ready caller for entra-purge: a Logic App (Consumption) that accepts a purge request over HTTP and sends it to
// the trigger queue with its own system-assigned managed identity (Service Bus REST API, Entra token; no
// connection string, no API connection resource). Its only role: Azure Service Bus Data Sender on the trigger queue.
//
// mode 'http': body {id, type, reason, requestedBy[, correlationId, notBefore]}, validated against a JSON schema
//   (id must be a GUID). Callers use the trigger's callback URL, which carries a SAS signature: fetch it with
//   `az rest` (infra/README.md) and keep it secret; it is never written to a template output.
// mode 'lifecycleWorkflows': the callout of an Entra ID Lifecycle Workflows custom task extension. Only Lifecycle
//   Workflows may call it (proof-of-possession token policy, SAS disabled). It enqueues a purge of the workflow's
//   subject (a user) with notBefore = now + purgeDelayMinutes, so the task can run just before the built-in
//   "Delete user" task and the purge waits for the soft delete (infra/README.md, "Lifecycle Workflows").

targetScope = 'resourceGroup'

param location string
param tags object
param name string

@allowed([
  'http'
  'lifecycleWorkflows'
])
param mode string = 'http'

param serviceBusNamespaceName string
param purgeQueueName string

@description('Entra audience of Service Bus tokens.')
param serviceBusAudience string = 'https://servicebus.azure.net'

@description('mode lifecycleWorkflows: minutes between the callout and the earliest purge (message notBefore).')
@minValue(0)
param purgeDelayMinutes int = 60

@description('mode lifecycleWorkflows: token issuer of your tenant (sovereign clouds differ).')
param tokenIssuer string = 'https://sts.windows.net/${tenant().tenantId}/'

@description('mode http: caller IP ranges allowed to call the trigger (CIDR). Empty: any address with the callback URL.')
param allowedCallerIpRanges array = []

// Well-known application id of Microsoft Entra Lifecycle Workflows (the custom task extension caller).
var lifecycleWorkflowsAppId = 'ce79fdc4-cd1d-4ea5-8139-e74d7dbe0bb7'

var roleIds = {
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource triggerQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: serviceBus
  name: purgeQueueName
}

// Service Bus REST "Send Message": POST https://<namespace>/<queue>/messages (201 Created).
var sendUri = '${serviceBus.properties.serviceBusEndpoint}${purgeQueueName}/messages'

var guidPattern = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

var httpSchema = {
  type: 'object'
  required: [
    'id'
  ]
  properties: {
    id: {
      type: 'string'
      pattern: guidPattern
    }
    type: {
      type: 'string'
      maxLength: 64
    }
    reason: {
      type: 'string'
      maxLength: 1024
    }
    requestedBy: {
      type: 'string'
      maxLength: 256
    }
    correlationId: {
      type: 'string'
      maxLength: 256
    }
    notBefore: {
      type: 'string'
      maxLength: 64
    }
  }
}

var lifecycleWorkflowsSchema = {
  type: 'object'
  required: [
    'data'
  ]
  properties: {
    data: {
      type: 'object'
      required: [
        'subject'
      ]
      properties: {
        subject: {
          type: 'object'
          required: [
            'id'
          ]
          properties: {
            id: {
              type: 'string'
              pattern: guidPattern
            }
          }
        }
      }
    }
  }
}

// The queue message body. http: the validated request as sent (unknown fields are ignored by the handler).
var httpBody = '@triggerBody()'
var lifecycleWorkflowsBody = {
  id: '@{triggerBody()?[\'data\']?[\'subject\']?[\'id\']}'
  type: 'user'
  reason: 'lifecycle-workflow'
  requestedBy: '@{concat(\'lifecycle-workflow:\', coalesce(triggerBody()?[\'data\']?[\'workflow\']?[\'displayName\'], triggerBody()?[\'data\']?[\'workflow\']?[\'id\'], \'unknown\'))}'
  correlationId: '@{coalesce(triggerBody()?[\'data\']?[\'taskProcessingResult\']?[\'id\'], workflow()?[\'run\']?[\'name\'])}'
  notBefore: '@{addMinutes(utcNow(), ${purgeDelayMinutes}, \'yyyy-MM-ddTHH:mm:ssZ\')}'
}

// MessageId = this run's id: the Logic App's own retries of the send inside one run are dropped by the trigger
// queue's duplicate detection; a new request is a new run and a new message.
var httpCorrelation = 'coalesce(triggerBody()?[\'correlationId\'], workflow()?[\'run\']?[\'name\'])'
var lifecycleWorkflowsCorrelation = 'coalesce(triggerBody()?[\'data\']?[\'taskProcessingResult\']?[\'id\'], workflow()?[\'run\']?[\'name\'])'
var correlationExpression = mode == 'http' ? httpCorrelation : lifecycleWorkflowsCorrelation
// setProperty/string build the JSON header value, so caller text is escaped, never spliced into JSON.
var brokerProperties = '@{string(setProperty(setProperty(json(\'{}\'), \'MessageId\', workflow()?[\'run\']?[\'name\']), \'CorrelationId\', ${correlationExpression}))}'

var lifecycleWorkflowsAccessControl = {
  triggers: {
    sasAuthenticationPolicy: {
      state: 'Disabled'
    }
    openAuthenticationPolicies: {
      policies: {
        AzureADLifecycleWorkflowsAuthPOPAuthPolicy: {
          type: 'AADPOP'
          claims: [
            {
              name: 'iss'
              value: tokenIssuer
            }
            {
              name: 'appid'
              value: lifecycleWorkflowsAppId
            }
            {
              name: 'm'
              value: 'POST'
            }
            {
              name: 'u'
              value: split(replace(environment().resourceManager, 'https://', ''), '/')[0]
            }
            {
              name: 'p'
              value: '/subscriptions/${subscription().subscriptionId}/resourceGroups/${resourceGroup().name}/providers/Microsoft.Logic/workflows/${name}'
            }
          ]
        }
      }
    }
  }
}

var httpAccessControl = empty(allowedCallerIpRanges) ? {} : {
  triggers: {
    allowedCallerIpAddresses: map(allowedCallerIpRanges, range => {
      addressRange: range
    })
  }
}

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: union(tags, {
    'entra-purge-caller': mode
  })
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    state: 'Enabled'
    accessControl: mode == 'http' ? httpAccessControl : lifecycleWorkflowsAccessControl
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
      parameters: {}
      triggers: {
        manual: {
          type: 'Request'
          kind: 'Http'
          operationOptions: 'EnableSchemaValidation'
          inputs: {
            method: 'POST'
            schema: mode == 'http' ? httpSchema : lifecycleWorkflowsSchema
          }
        }
      }
      actions: {
        Send_to_purge_queue: {
          type: 'Http'
          runAfter: {}
          inputs: {
            method: 'POST'
            uri: sendUri
            headers: {
              'Content-Type': 'application/json'
              BrokerProperties: brokerProperties
            }
            body: mode == 'http' ? httpBody : lifecycleWorkflowsBody
            authentication: {
              type: 'ManagedServiceIdentity'
              audience: serviceBusAudience
            }
            retryPolicy: {
              type: 'exponential'
              count: 4
              interval: 'PT7S'
            }
          }
        }
        Accepted: {
          type: 'Response'
          kind: 'Http'
          runAfter: {
            Send_to_purge_queue: [
              'Succeeded'
            ]
          }
          inputs: {
            statusCode: 202
            headers: {
              'Content-Type': 'application/json'
            }
            body: {
              queued: true
              queue: purgeQueueName
              messageId: '@{workflow()?[\'run\']?[\'name\']}'
            }
          }
        }
        Not_queued: {
          type: 'Response'
          kind: 'Http'
          runAfter: {
            Send_to_purge_queue: [
              'Failed'
              'TimedOut'
            ]
          }
          inputs: {
            statusCode: 503
            headers: {
              'Content-Type': 'application/json'
            }
            body: {
              queued: false
              error: 'The purge request could not be sent to the queue; try again. See the Logic App run history.'
              runId: '@{workflow()?[\'run\']?[\'name\']}'
            }
          }
        }
      }
      outputs: {}
    }
  }
}

// The caller's only right: send to the trigger queue.
resource triggerQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(triggerQueue.id, workflow.id, roleIds.serviceBusDataSender)
  scope: triggerQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.serviceBusDataSender)
    principalId: workflow.identity.principalId
    principalType: 'ServicePrincipal'
    description: 'entra-purge Logic App caller (${mode}): send purge requests'
  }
}

output name string = workflow.name
output id string = workflow.id
output principalId string = workflow.identity.principalId
