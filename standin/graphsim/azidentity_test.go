package graphsim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/identity"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

// TestWithRealManagedIdentityCredential drives the simulator with a token obtained by the real
// azidentity ManagedIdentityCredential from the identity stand-in: the path the purge handler takes
// in Azure, end to end on loopback.
func TestWithRealManagedIdentityCredential(t *testing.T) {
	// MSAL's managed-identity token cache is process-wide and keyed by (identity, resource); the
	// resource is this run's simulator URL, so a repeated run is not served the previous run's token.
	clientID := uuid.NewString() // the token's appid, to find in the simulator's log
	var idLog syncio.Buffer
	idp := identity.New(identity.Options{Header: "graphsim-test", ClientID: clientID, Roles: []string{"User.DeleteRestore.All"}, Log: &idLog})
	idTS := httptest.NewServer(idp)
	defer idTS.Close()
	t.Setenv("IDENTITY_ENDPOINT", idTS.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "graphsim-test")
	t.Setenv("IDENTITY_SERVER_THUMBPRINT", "")
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("IMDS_ENDPOINT", "")

	sim := New(Options{}) // real clock: the token's iat/exp are real times
	ts := httptest.NewServer(sim)
	defer ts.Close()
	user := Object{ID: "2b4e6c1a-7d3f-4e8a-9b0c-1d2e3f4a5b6c", Type: "user", DisplayName: "Leaver", DeletedAt: time.Now().Add(-time.Hour)}
	sim.Add(user)

	cred, err := azidentity.NewManagedIdentityCredential(nil)
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
	if idp.Calls() != 1 || !strings.Contains(idLog.String(), `"resource":"`+ts.URL+`"`) {
		t.Errorf("identity requests = %s", idLog.String())
	}
}
