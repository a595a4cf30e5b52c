package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/entra-purge/entra-purge/internal/directory"
)

// ListSelect is what the retention sweep reads of each deleted object: its id, when it was deleted, and a
// name for the operator's report. Selecting properties also costs Graph one resource unit less per call
// (docs/graph.md §4.1).
const ListSelect = "id,displayName,deletedDateTime"

// ListPageSize is the largest page Graph serves for the typed LIST (docs/graph.md §1.4).
const ListPageSize = 999

// ListDeleted reads one page of the recycle bin for type t: GET
// /directory/deletedItems/microsoft.graph.{t}?$select=…&$top=999 when next is empty, otherwise the
// @odata.nextLink a previous page returned. Reads are paced, retried and classified like every other call.
//
// A next link is followed only when it leads to this client's Graph endpoint (same scheme, host and port)
// and to the same typed list: the bearer token goes with the request, so a link pointing anywhere else is
// refused (a *NextLinkError, kind Rejected) without being requested.
func (c *Client) ListDeleted(ctx context.Context, t directory.Type, next string) (directory.DeletedPage, error) {
	page := directory.DeletedPage{Call: directory.Call{Method: http.MethodGet}}
	known, err := directory.ParseType(string(t))
	if err != nil {
		return page, &directory.Error{Kind: directory.Rejected, Call: page.Call, Err: err}
	}
	item := "microsoft.graph." + string(known)
	target := c.base + "/directory/deletedItems/" + item + "?$select=" + ListSelect + "&$top=" + fmt.Sprint(ListPageSize)
	if next != "" {
		if target, err = c.checkNextLink(next, item); err != nil {
			return page, &directory.Error{Kind: directory.Rejected, Call: page.Call, Err: err}
		}
	}
	call, body, err := c.doURL(ctx, http.MethodGet, target, item, http.StatusOK)
	page.Call = call
	if err != nil {
		return page, err
	}
	var raw struct {
		Value    []deletedObjectJSON `json:"value"`
		NextLink string              `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return page, &directory.Error{Kind: directory.Rejected, Call: call,
			Err: fmt.Errorf("graph: GET deletedItems/%s: decoding the answer: %w", item, err)}
	}
	page.Objects = make([]directory.DeletedObject, 0, len(raw.Value))
	for _, r := range raw.Value {
		obj := r.object()
		// The cast names the type: Graph omits @odata.type for members of the cast's own type.
		if obj.Type == "" {
			obj.Type = known
		}
		page.Objects = append(page.Objects, obj)
	}
	page.Next = raw.NextLink
	return page, nil
}

// NextLinkError is an @odata.nextLink the client refused to follow.
type NextLinkError struct {
	Link   string // cut, without its query
	Reason string
}

func (e *NextLinkError) Error() string {
	return fmt.Sprintf("graph: refusing to follow @odata.nextLink %q: %s", e.Link, e.Reason)
}

// checkNextLink accepts a next link to the same origin as the endpoint and the same typed list.
func (c *Client) checkNextLink(link, item string) (string, error) {
	u, err := url.Parse(link)
	shown := link
	if err == nil {
		shown = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	}
	if len(shown) > 200 {
		shown = shown[:200] + "…"
	}
	refuse := func(reason string) (string, error) { return "", &NextLinkError{Link: shown, Reason: reason} }
	switch {
	case err != nil:
		return refuse("not a URL")
	case !u.IsAbs() || u.Host == "":
		return refuse("not an absolute URL")
	case u.User != nil:
		return refuse("it carries user information")
	case !strings.EqualFold(u.Scheme, c.origin.Scheme) || !strings.EqualFold(u.Host, c.origin.Host):
		return refuse("it leads away from the Graph endpoint " + c.origin.Scheme + "://" + c.origin.Host + ", and the bearer token would go with it")
	case u.Fragment != "":
		return refuse("it has a fragment")
	}
	wantPath := strings.TrimPrefix(c.base, c.origin.Scheme+"://"+c.origin.Host) + "/directory/deletedItems/" + item
	if !strings.EqualFold(u.EscapedPath(), wantPath) {
		return refuse("it does not continue the list " + wantPath)
	}
	return u.String(), nil
}
