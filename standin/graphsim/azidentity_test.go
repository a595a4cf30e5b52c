package graphsim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/identity"
)

// TestWithRealManagedIdentityCredential drives the simulator with a token obtained by the real
// azidentity ManagedIdentityCredential from the identity stand-in: the path the purge handler takes
// in Azure, end to end on loopback.
func TestWithRealManagedIdentityCredential(t *testing.T) {
	key := []byte("graphsim-azidentity-test-key")
	// A client id of its own per run: MSAL's managed-identity token cache is process-wide and keyed
	// by (identity, resource), so a repeated run must not be served the previous run's token.
	clientID := uuid.NewString()
	idp := identity.New(identity.Options{Header: "graphsim-test", SigningKey: key, ClientID: clientID, Roles: []string{"User.DeleteRestore.All"}})
	idTS := httptest.NewServer(idp)
	defer idTS.Close()
	t.Setenv("IDENTITY_ENDPOINT", idTS.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "graphsim-test")
	t.Setenv("IDENTITY_SERVER_THUMBPRINT", "")
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("IMDS_ENDPOINT", "")

	sim := New(Options{SigningKey: key}) // real clock: the token's iat/exp are real times
	ts := httptest.NewServer(sim)
	defer ts.Close()
	user := Object{ID: "2b4e6c1a-7d3f-4e8a-9b0c-1d2e3f4a5b6c", Type: "user", DisplayName: "Leaver", DeletedAt: time.Now().Add(-time.Hour)}
	sim.Add(user)

	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The simulator accepts its own URL as audience, the way the handler scopes a Graph override.
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ts.URL + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}

	call := func(method string) int {
		req, _ := http.NewRequestWithContext(ctx, method, ts.URL+"/v1.0/directory/deletedItems/"+user.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("client-request-id", "azidentity-e2e")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call("GET"); got != 200 {
		t.Fatalf("GET = %d", got)
	}
	if got := call("DELETE"); got != 204 {
		t.Fatalf("DELETE = %d", got)
	}
	if !sim.Purged(user.ID) {
		t.Fatal("not purged")
	}
	log := sim.RequestsFor(user.ID)
	if len(log) != 2 || log[1].AppID != clientID || len(log[1].Roles) != 1 || log[1].ClientRequestID != "azidentity-e2e" {
		t.Errorf("log = %+v", log)
	}
	if idp.Calls() != 1 || idp.Requests()[0].Resource != ts.URL {
		t.Errorf("identity requests = %+v", idp.Requests())
	}
}
