package funchost

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// lookupSetting finds an app setting. Section keys are accepted with "__" or
// ":" as .NET configuration does.
func lookupSetting(settings map[string]string, name string) string {
	if v := settings[name]; v != "" {
		return v
	}
	if strings.Contains(name, "__") {
		return settings[strings.ReplaceAll(name, "__", ":")]
	}
	return ""
}

// newServiceBusClient resolves a trigger's connection as ServiceBusClientFactory
// does (functions-host.md §4): the setting named by connection (or
// AzureWebJobs<connection>) is a connection string when it has a value;
// otherwise <connection>__fullyQualifiedNamespace names the namespace and the
// credential is a managed identity when <connection>__credential is
// "managedidentity" or <connection>__clientId names a user-assigned one, else
// DefaultAzureCredential (so a developer's az login works).
func newServiceBusClient(connection string, settings map[string]string) (*azservicebus.Client, ClientInfo, error) {
	cs := lookupSetting(settings, connection)
	if cs == "" {
		cs = lookupSetting(settings, "AzureWebJobs"+connection)
	}
	if cs != "" {
		ns, err := connectionStringNamespace(cs)
		if err != nil {
			return nil, ClientInfo{}, fmt.Errorf("connection %q: %w", connection, err)
		}
		c, err := azservicebus.NewClientFromConnectionString(cs, nil)
		if err != nil {
			return nil, ClientInfo{}, fmt.Errorf("connection %q: %v", connection, sanitize(err.Error()))
		}
		return c, NewClientInfo(ns), nil
	}
	ns := lookupSetting(settings, connection+"__fullyQualifiedNamespace")
	if ns == "" {
		return nil, ClientInfo{}, fmt.Errorf("connection %q: set the app setting %q to a connection string, or %q to a namespace",
			connection, connection, connection+"__fullyQualifiedNamespace")
	}
	var cred azcore.TokenCredential
	var err error
	clientID := lookupSetting(settings, connection+"__clientId")
	if clientID != "" || strings.EqualFold(lookupSetting(settings, connection+"__credential"), "managedidentity") {
		o := &azidentity.ManagedIdentityCredentialOptions{}
		if clientID != "" {
			o.ID = azidentity.ClientID(clientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(o)
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(nil)
	}
	if err != nil {
		return nil, ClientInfo{}, fmt.Errorf("connection %q: credential: %w", connection, err)
	}
	c, err := azservicebus.NewClient(ns, cred, nil)
	if err != nil {
		return nil, ClientInfo{}, fmt.Errorf("connection %q: %w", connection, err)
	}
	return c, NewClientInfo(ns), nil
}

// connectionStringNamespace is the namespace host of a connection string's
// Endpoint, without the port, as ServiceBusClient.FullyQualifiedNamespace reports it.
func connectionStringNamespace(cs string) (string, error) {
	for _, part := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(k, "Endpoint") {
			u, err := url.Parse(v)
			if err != nil || u.Hostname() == "" {
				return "", fmt.Errorf("the connection string's Endpoint %q is not a URL", v)
			}
			return u.Hostname(), nil
		}
	}
	return "", fmt.Errorf("the connection string has no Endpoint")
}
