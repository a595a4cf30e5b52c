#!/bin/sh
# Grants the Microsoft Graph application permissions (app roles) entra-purge needs to the function's managed
# identity: the same grant as infra/app/graph-permissions.bicep, for when the deployment ran with
# grantGraphPermissions=false. Run by an Entra admin allowed to grant app roles on Microsoft Graph
# (Privileged Role Administrator or Global Administrator), signed in with `az login` to the right tenant.
#
#   sh infra/scripts/grant-graph-permissions.sh [--principal-id OID] [--roles R1,R2,...] [--graph-url URL] [--print]
#
#   --principal-id  object id of the identity's service principal (default: azd env FUNCTION_IDENTITY_PRINCIPAL_ID)
#   --roles         app-role values, comma-separated (default: azd env GRAPH_APP_ROLES)
#   --graph-url     Microsoft Graph root (default: azd env GRAPH_URL, else https://graph.microsoft.com)
#   --print         print the az commands instead of running them
#
# Each role id is looked up by value on Microsoft Graph's service principal (appId
# 00000003-0000-0000-c000-000000000000); roles already granted are skipped, so running it twice is harmless.
# New roles can take up to 24 hours to appear in the identity's tokens (token cache).
set -eu

GRAPH_APP_ID=00000003-0000-0000-c000-000000000000
principal=""
roles=""
graph=""
print=0

azd_value() {
	command -v azd >/dev/null 2>&1 || return 0
	azd env get-value "$1" 2>/dev/null || true
}

while [ $# -gt 0 ]; do
	case $1 in
	--principal-id) principal=$2; shift 2 ;;
	--roles) roles=$2; shift 2 ;;
	--graph-url) graph=$2; shift 2 ;;
	--print) print=1; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "grant-graph-permissions.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

[ -n "$principal" ] || principal=$(azd_value FUNCTION_IDENTITY_PRINCIPAL_ID)
[ -n "$roles" ] || roles=$(azd_value GRAPH_APP_ROLES)
[ -n "$graph" ] || graph=$(azd_value GRAPH_URL)
[ -n "$graph" ] || graph=https://graph.microsoft.com
graph=${graph%/}

if [ -z "$principal" ] || [ -z "$roles" ]; then
	echo "grant-graph-permissions.sh: need --principal-id and --roles (or an azd environment that has them)" >&2
	exit 2
fi
case $principal in
*[!0-9a-fA-F-]* | "") echo "grant-graph-permissions.sh: --principal-id '$principal' is not an object id" >&2; exit 2 ;;
esac

roles_spaced=$(printf %s "$roles" | tr ',' ' ')

if [ "$print" -eq 1 ]; then
	cat <<CMDS
GRAPH_SP=\$(az ad sp show --id $GRAPH_APP_ID --query id -o tsv)
for ROLE in $roles_spaced; do
  ROLE_ID=\$(az ad sp show --id $GRAPH_APP_ID --query "appRoles[?value=='\$ROLE' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)
  az rest --method POST --uri "$graph/v1.0/servicePrincipals/\$GRAPH_SP/appRoleAssignedTo" --headers Content-Type=application/json --body "{\"principalId\":\"$principal\",\"resourceId\":\"\$GRAPH_SP\",\"appRoleId\":\"\$ROLE_ID\"}"
done
CMDS
	exit 0
fi

command -v az >/dev/null 2>&1 || { echo "grant-graph-permissions.sh: the Azure CLI (az) is required" >&2; exit 1; }

echo "+ az ad sp show --id $GRAPH_APP_ID --query id -o tsv"
graph_sp=$(az ad sp show --id "$GRAPH_APP_ID" --query id -o tsv)
echo "  Microsoft Graph service principal: $graph_sp"

failed=0
for role in $roles_spaced; do
	echo "+ az ad sp show --id $GRAPH_APP_ID --query \"appRoles[?value=='$role' && contains(allowedMemberTypes, 'Application')].id | [0]\" -o tsv"
	role_id=$(az ad sp show --id "$GRAPH_APP_ID" --query "appRoles[?value=='$role' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)
	if [ -z "$role_id" ]; then
		echo "  $role: no such Microsoft Graph application permission" >&2
		failed=1
		continue
	fi
	existing=$(az rest --method GET \
		--uri "$graph/v1.0/servicePrincipals/$principal/appRoleAssignments" \
		--query "length(value[?appRoleId=='$role_id' && resourceId=='$graph_sp'])" -o tsv)
	if [ "${existing:-0}" != "0" ]; then
		echo "  $role ($role_id): already granted"
		continue
	fi
	body="{\"principalId\":\"$principal\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$role_id\"}"
	echo "+ az rest --method POST --uri $graph/v1.0/servicePrincipals/$graph_sp/appRoleAssignedTo --headers Content-Type=application/json --body '$body'"
	if az rest --method POST --uri "$graph/v1.0/servicePrincipals/$graph_sp/appRoleAssignedTo" \
		--headers Content-Type=application/json --body "$body" --query id -o tsv >/dev/null; then
		echo "  $role ($role_id): granted"
	else
		echo "  $role ($role_id): FAILED (are you a Privileged Role Administrator or Global Administrator?)" >&2
		failed=1
	fi
done

if [ "$failed" -ne 0 ]; then
	exit 1
fi
echo "Done. New roles can take up to 24 hours to reach the identity's tokens; purges meanwhile fail as Forbidden."
