extension microsoftGraphV1

// Grants Microsoft Graph application permissions (app roles) to the function's managed identity.
//
// Deploying this needs an Entra admin (a principal allowed to grant app roles on Microsoft Graph:
// Privileged Role Administrator or Global Administrator in practice). main.bicep deploys it only when
// grantGraphPermissions is true. Otherwise an admin runs infra/scripts/grant-graph-permissions.sh, or deploys this
// file alone:
//   az deployment group create -g <rg> -f infra/app/graph-permissions.bicep \
//     -p principalId=<FUNCTION_IDENTITY_PRINCIPAL_ID> appRoles='["User.DeleteRestore.All","User.Read.All"]'
//
// App-role ids are looked up by value on Microsoft Graph's service principal, never hard-coded; an unknown value
// fails the deployment instead of granting something else.

@description('Object (principal) id of the managed identity\'s service principal.')
param principalId string

@description('Microsoft Graph application permissions (app-role values) to grant.')
param appRoles array

// Microsoft Graph's well-known application id (the same in every tenant and cloud).
var graphAppId = '00000003-0000-0000-c000-000000000000'

resource graphSp 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for role in appRoles: {
  principalId: principalId
  resourceId: graphSp.id
  appRoleId: filter(graphSp.appRoles, appRole => appRole.value == role && contains(appRole.allowedMemberTypes, 'Application'))[0].id
}]

output granted array = [for (role, i) in appRoles: {
  value: role
  id: grants[i].appRoleId
}]
