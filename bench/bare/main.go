// Command bare is the baseline of `make bench`'s CPU figure: about the least a custom handler can do to
// purge one object per Service Bus message, built on the same azcore and azidentity as entra-purge — a
// pipeline with the bearer-token policy over the managed-identity credential; the host's envelope decoded
// with encoding/json, the base64 body read as a GUID, one DELETE, and `{}` back. No validation beyond the
// GUID, no policy, no log line, no retry copy: what entra-purge adds on top of this is what the figure
// prices. It is never deployed.
package main

import (
	"bytes"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
)

func main() {
	endpoint := strings.TrimRight(os.Getenv("PURGE_GRAPH_ENDPOINT"), "/")
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	insecure := strings.HasPrefix(endpoint, "http://")
	pl := runtime.NewPipeline("bare", "v0", runtime.PipelineOptions{PerRetry: []policy.Policy{
		runtime.NewBearerTokenPolicy(cred, []string{endpoint + "/.default"}, &policy.BearerTokenOptions{InsecureAllowCredentialWithHTTP: insecure}),
	}}, &policy.ClientOptions{InsecureAllowCredentialWithHTTP: insecure})

	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {})
	http.HandleFunc("POST /purge", func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Data struct {
				Message []byte `json:"message"` // base64 in the envelope: encoding/json decodes it
			}
		}
		status := http.StatusInternalServerError
		if json.NewDecoder(r.Body).Decode(&env) == nil {
			if id, err := uuid.ParseBytes(bytes.TrimSpace(env.Data.Message)); err == nil {
				req, err := runtime.NewRequest(r.Context(), http.MethodDelete, endpoint+"/v1.0/directory/deletedItems/"+id.String())
				if err == nil {
					if resp, err := pl.Do(req); err == nil {
						if resp.StatusCode == http.StatusNoContent {
							status = http.StatusOK
						}
						runtime.Drain(resp)
					}
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("{}"))
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), nil))
}
