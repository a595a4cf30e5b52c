package funchost

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// newServiceBusClient resolves a trigger's connection: the app setting it names
// holds a connection string (the local emulator's, with UseDevelopmentEmulator=true).
// The real host also accepts <connection>__fullyQualifiedNamespace with a managed
// identity, which is what Azure uses; the stand-in runs against the emulator only.
func newServiceBusClient(connection string, settings map[string]string) (*azservicebus.Client, ClientInfo, error) {
	cs := settings[connection]
	if cs == "" {
		return nil, ClientInfo{}, fmt.Errorf("connection %q: set the app setting %q to a connection string (the host stand-in does not "+
			"connect by %s__fullyQualifiedNamespace)", connection, connection, connection)
	}
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
