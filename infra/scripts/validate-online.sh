#!/bin/sh
# The online half of the infra proof, for a machine that reaches Azure and has the Azure CLI with Bicep
# (>= 0.36.1, for the Microsoft Graph extension). tools/infracheck proves syntax and consistency offline; only this
# proves that the templates compile and that Azure Resource Manager accepts them.
#
#   infra/scripts/validate-online.sh [-l LOCATION] [-e ENVIRONMENT_NAME] [--graph] [--no-what-if]
#
#   1. az bicep build of every .bicep file (and the linter rules of infra/bicepconfig.json)
#   2. az deployment sub validate   (main.bicep with inline parameters; main.parameters.json holds azd ${VARS})
#   3. az deployment sub what-if    (what a deployment would change; skipped with --no-what-if)
#
# The Graph grant is left out (grantGraphPermissions=false) unless --graph is given, since validating it needs
# the signed-in principal to be allowed to grant Microsoft Graph app roles. `azd provision --preview` is the
# azd-native alternative to steps 2-3.
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"

location=${AZURE_LOCATION:-}
env_name=${AZURE_ENV_NAME:-entra-purge-validate}
graph=false
what_if=1
while [ $# -gt 0 ]; do
	case $1 in
	-l | --location) location=$2; shift 2 ;;
	-e | --environment) env_name=$2; shift 2 ;;
	--graph) graph=true; shift ;;
	--no-what-if) what_if=0; shift ;;
	-h | --help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "validate-online.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$location" ] || { echo "validate-online.sh: give -l LOCATION (a region with Flex Consumption) or set AZURE_LOCATION" >&2; exit 2; }

command -v az >/dev/null 2>&1 || { echo "validate-online.sh: the Azure CLI (az) is required" >&2; exit 1; }
az account show --query "{subscription:name, tenant:tenantId}" -o tsv >/dev/null || { echo "validate-online.sh: run az login first" >&2; exit 1; }

echo "== 1. bicep build (compiler + linter)"
az bicep version
for f in infra/main.bicep infra/app/*.bicep; do
	echo "+ az bicep build --file $f --stdout"
	az bicep build --file "$f" --stdout >/dev/null
done

principal=$(az ad signed-in-user show --query id -o tsv 2>/dev/null || true)
set -- \
	environmentName="$env_name" \
	location="$location" \
	principalId="$principal" \
	grantGraphPermissions="$graph" \
	deployHttpCaller=true \
	deployLifecycleWorkflowsCaller=true

echo "== 2. az deployment sub validate ($location, environment $env_name)"
az deployment sub validate --location "$location" --template-file infra/main.bicep --parameters "$@" -o none

if [ "$what_if" -eq 1 ]; then
	echo "== 3. az deployment sub what-if"
	az deployment sub what-if --location "$location" --template-file infra/main.bicep --parameters "$@"
fi
echo "validate-online.sh: templates compile and Azure Resource Manager accepts them."
