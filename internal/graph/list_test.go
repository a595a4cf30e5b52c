package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/throttle"
)

// A list of two pages: the first request carries $select and $top=999, the next link is followed, the
// type comes from the cast, and the last page ends the list.
func TestListDeletedPages(t *testing.T) {
	var queries []string
	var mu sync.Mutex
	var srv *httptest.Server
	srv, reqs := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("request-id", fmt.Sprintf("rid-%d", n))
		if n == 1 {
			fmt.Fprintf(w, `{"value":[{"id":"%s","displayName":"Ada","deletedDateTime":"2026-11-01T10:00:00Z"}],"@odata.nextLink":"%s/v1.0/directory/deletedItems/microsoft.graph.user?$select=id&$top=999&$skiptoken=abc"}`, gid, srv.URL)
			return
		}
		fmt.Fprint(w, `{"value":[{"id":"9f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b","deletedDateTime":null},{"id":"not-a-guid"}]}`)
	})
	c := client(t, srv.URL, &staticCred{})
	p1, err := c.ListDeleted(context.Background(), directory.User, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.Objects) != 1 || p1.Objects[0].ID.String() != gid || p1.Objects[0].Type != directory.User || p1.Objects[0].DisplayName != "Ada" ||
		!p1.Objects[0].DeletedDateTime.Equal(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)) || p1.Next == "" || p1.Call.RequestID != "rid-1" {
		t.Fatalf("page 1 %+v", p1)
	}
	p2, err := c.ListDeleted(context.Background(), directory.User, p1.Next)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Objects) != 2 || p2.Next != "" || !p2.Objects[0].DeletedDateTime.IsZero() || !p2.Objects[1].ID.IsZero() {
		t.Fatalf("page 2 %+v", p2)
	}
	r := *reqs
	if r[0].path != "/v1.0/directory/deletedItems/microsoft.graph.user" || queries[0] != "$select=id,displayName,deletedDateTime&$top=999" ||
		r[0].auth == "" || r[0].priority != "Low" {
		t.Errorf("first request %+v %q", r[0], queries[0])
	}
	if queries[1] != "$select=id&$top=999&$skiptoken=abc" {
		t.Errorf("next link query %q", queries[1])
	}
}

// A next link to another host, scheme, port or list is refused before any request: the bearer token would
// go with it.
func TestListDeletedRefusesForeignNextLink(t *testing.T) {
	foreign := 0
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreign++
		w.WriteHeader(200)
	}))
	defer evil.Close()
	srv, reqs := newServer(t, func(int, http.ResponseWriter, *http.Request) {})
	c := client(t, srv.URL, &staticCred{})
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, link := range []string{
		evil.URL + "/v1.0/directory/deletedItems/microsoft.graph.user?$skiptoken=x",
		"https://" + host + "/v1.0/directory/deletedItems/microsoft.graph.user?$skiptoken=x",
		"http://user:pw@" + host + "/v1.0/directory/deletedItems/microsoft.graph.user",
		srv.URL + "/v1.0/users?$skiptoken=x",
		srv.URL + "/v1.0/directory/deletedItems/microsoft.graph.group?$skiptoken=x",
		srv.URL + "/v1.0/directory/deletedItems/microsoft.graph.user/../../../users",
		"/v1.0/directory/deletedItems/microsoft.graph.user?$skiptoken=x",
		"http://[::1",
	} {
		_, err := c.ListDeleted(context.Background(), directory.User, link)
		var nle *NextLinkError
		if !errors.As(err, &nle) || directory.KindOf(err) != directory.Rejected {
			t.Errorf("%s: %v", link, err)
		}
	}
	if foreign != 0 || len(*reqs) != 0 {
		t.Errorf("%d foreign and %d own requests made", foreign, len(*reqs))
	}
	if _, err := c.ListDeleted(context.Background(), "users", ""); directory.KindOf(err) != directory.Rejected {
		t.Errorf("unknown type: %v", err)
	}
}

// A throttled list call is retried in-process no sooner than its Retry-After, and a Retry-After too long
// to wait in-process comes back on the error.
func TestListDeletedThrottled(t *testing.T) {
	srv, reqs := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			graphError(w, 429, "TooManyRequests", "Please retry again later.")
		case 2:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"value":[]}`)
		default:
			w.Header().Set("Retry-After", "30")
			graphError(w, 429, "TooManyRequests", "Please retry again later.")
		}
	})
	ctl := throttle.New(nil)
	c, err := NewClient(srv.URL, &staticCred{}, &ClientOptions{ClientOptions: azcore.ClientOptions{InsecureAllowCredentialWithHTTP: true}, Throttle: ctl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListDeleted(context.Background(), directory.Application, ""); err != nil {
		t.Fatal(err)
	}
	r := *reqs
	if gap := r[1].at.Sub(r[0].at); gap < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After 1", gap)
	}
	_, err = c.ListDeleted(context.Background(), directory.Application, "")
	var de *directory.Error
	if !errors.As(err, &de) || de.Kind != directory.Throttled || de.RetryAfter != 30*time.Second || de.Call.Status != 429 {
		t.Fatalf("long Retry-After: %v", err)
	}
}
