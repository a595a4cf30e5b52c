// entra-purge alerts: one rule per signal (criteria inside one rule are AND-ed, so two signals in one rule would
// fire only when both hold).
//   1. messages on the failure queue         (metric ActiveMessages,       EntityName = failure queue)
//   2. dead-lettered trigger-queue messages  (metric DeadletteredMessages, EntityName = trigger queue)
//   3. purge failure rate from the handler's own log lines (scheduled query on Application Insights traces)
// All go to one action group: an existing one (actionGroupId) or one created here (alertEmail, optional).

targetScope = 'resourceGroup'

param location string
param tags object
param resourceToken string

param serviceBusNamespaceName string
param purgeQueueName string
param failureQueueName string
param appInsightsName string

@description('Resource id of an existing action group to notify. Empty: create one here.')
param actionGroupId string = ''

@description('Email for the action group created here (ignored when actionGroupId is set). Empty: no receiver; add one later.')
param alertEmail string = ''

@description('Name of the action group created here when actionGroupId is empty.')
param actionGroupName string = 'ag-${resourceToken}'

@minValue(0)
@maxValue(4)
param severity int = 2

@minValue(1)
@maxValue(100)
@description('Alert when more than this percentage of purge decisions in the window are "failed".')
param failureRateThresholdPercent int = 10

@minValue(1)
@description('Only judge the failure rate once at least this many purge decisions were logged in the window.')
param failureRateMinimumDecisions int = 5

@description('Window (ISO 8601) of the failure-rate query.')
param failureRateWindow string = 'PT15M'

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (empty(actionGroupId)) {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'purgealert'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'owner'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// A string id (not actionGroup.id) so nothing dereferences the conditional resource when it is not deployed.
var actionGroupResourceId = empty(actionGroupId) ? resourceId('Microsoft.Insights/actionGroups', actionGroupName) : actionGroupId

var queueAlerts = [
  {
    signal: 'failure-queue'
    metric: 'ActiveMessages'
    queue: failureQueueName
    description: 'The purge handler sent requests it could not purge to the failure queue "${failureQueueName}". Each message carries DeadLetterReason and DeadLetterErrorDescription.'
  }
  {
    signal: 'trigger-dlq'
    metric: 'DeadletteredMessages'
    queue: purgeQueueName
    description: 'Messages on "${purgeQueueName}" exhausted maxDeliveryCount or expired and are in its $DeadLetterQueue: the handler could not secure them (failure queue unreachable?) or never ran.'
  }
]

resource queueAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = [for a in queueAlerts: {
  name: 'alert-${a.signal}-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    description: a.description
    severity: severity
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: a.signal
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: a.metric
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                a.queue
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroupResourceId
      }
    ]
  }
  dependsOn: [
    actionGroup
  ]
}]

// The handler writes one zerolog JSON line per invocation to stdout. The Functions host records stdout as an
// Information trace (category Host.Function.Console); on a 2xx answer the same line also comes back in the
// response's Logs (category Function.purge.User). Identical lines are therefore counted once ("distinct"),
// which also makes the query independent of which of the two categories a host version keeps.
var failureRateQuery = '''
traces
| where message startswith "{" and message has "\"outcome\""
| extend entry = parse_json(message)
| extend outcome = tostring(entry.outcome)
| where outcome in ("purged", "absent", "retry-scheduled", "failed", "dry-run")
| distinct message, outcome
| summarize decisions = count(), failed = countif(outcome == "failed")
| where decisions >= MIN_DECISIONS
| extend failureRatePercent = 100.0 * failed / decisions
'''

resource failureRateAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-purge-failure-rate-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'entra-purge failure rate'
    description: 'More than ${failureRateThresholdPercent}% of purge decisions in ${failureRateWindow} were "failed" (failure queue). Look at the failure queue and the "reason" field of the handler log lines.'
    severity: severity
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: failureRateWindow
    criteria: {
      allOf: [
        {
          query: replace(failureRateQuery, 'MIN_DECISIONS', string(failureRateMinimumDecisions))
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'failureRatePercent'
          operator: 'GreaterThan'
          threshold: failureRateThresholdPercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroupResourceId
      ]
    }
  }
  dependsOn: [
    actionGroup
  ]
}

output actionGroupId string = actionGroupResourceId
output alertNames array = [
  queueAlert[0].name
  queueAlert[1].name
  failureRateAlert.name
]
