#!/bin/sh
# azd postprovision hook: says what was deployed and, when the Graph grant was left to an admin, prints the exact
# commands. azd passes the deployment outputs (infra/main.bicep) as environment variables.
set -eu

echo
echo "entra-purge provisioned:"
echo "  function app        ${AZURE_FUNCTION_APP_NAME:-?} (resource group ${AZURE_RESOURCE_GROUP:-?})"
echo "  trigger queue       ${SERVICE_BUS_NAMESPACE_FQDN:-?}/${PURGE_QUEUE_NAME:-?}"
echo "  failure queue       ${SERVICE_BUS_NAMESPACE_FQDN:-?}/${PURGE_FAILED_QUEUE_NAME:-?}"
echo "  identity            ${FUNCTION_IDENTITY_NAME:-?} (object id ${FUNCTION_IDENTITY_PRINCIPAL_ID:-?})"
echo "  scale               ${MAXIMUM_INSTANCE_COUNT:-?} instance(s) x ${MAX_CONCURRENT_CALLS:-?} concurrent calls"
echo "  Graph app roles     ${GRAPH_APP_ROLES:-?}"

granted=$(printf %s "${GRAPH_PERMISSIONS_GRANTED:-false}" | tr "[:upper:]" "[:lower:]")
if [ "$granted" = "true" ]; then
	echo "  Graph permissions   granted by the deployment (new roles can take up to 24 h to reach the identity's tokens)"
else
	cat <<MSG

Microsoft Graph permissions were NOT granted (grantGraphPermissions=false). Until an Entra admin
(Privileged Role Administrator or Global Administrator) grants them, every purge fails with Forbidden.
Ask the admin to run, from this repository:

  ${GRAPH_GRANT_COMMAND:-sh infra/scripts/grant-graph-permissions.sh}

or, with the Azure CLI alone:

${GRAPH_GRANT_AZ_COMMANDS:-}

MSG
fi
