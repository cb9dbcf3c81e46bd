package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

// MaxBodyBytes bounds every request body; larger ones get 413.
const MaxBodyBytes = 1 << 20

// params merges a request's query string and body (JSON object or form) the way Grape
// does: body values win over query values of the same name.
type params struct {
	values map[string]any // string, []any, float64/json.Number, bool, nil
}

var errTooLarge = &apiError{status: 413, body: map[string]any{"message": "413 Request Entity Too Large"}}

// readParams parses query and body. Malformed bodies are a 400 in Grape's shape.
func readParams(r *http.Request) (*params, error) {
	p := &params{values: map[string]any{}}
	if r.URL.RawQuery != "" {
		for k, vs := range r.URL.Query() {
			p.setForm(k, vs)
		}
	}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, badRequest("could not read the request body")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json", "":
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		var obj map[string]any
		err := dec.Decode(&obj)
		if err == nil {
			if _, terr := dec.Token(); terr != io.EOF { // trailing content after the object
				err = errors.New("trailing data")
			}
		}
		if err != nil {
			if ct == "" {
				if form, ferr := url.ParseQuery(string(body)); ferr == nil {
					for k, vs := range form {
						p.setForm(k, vs)
					}
					return p, nil
				}
			}
			return nil, paramError("Invalid JSON format") // GitLab's JSON validation middleware
		}
		for k, v := range obj {
			p.values[k] = v
		}
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, paramError("the form body is malformed")
		}
		for k, vs := range form {
			p.setForm(k, vs)
		}
	case "multipart/form-data":
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
			return nil, paramError("the multipart body is malformed")
		}
		for k, vs := range r.MultipartForm.Value {
			p.setForm(k, vs)
		}
	default:
		return nil, &apiError{status: 415, body: map[string]any{"error": "The provided content-type '" + ct + "' is not supported."}}
	}
	return p, nil
}

// setForm stores form values: "scopes[]" and repeated keys become lists.
func (p *params) setForm(k string, vs []string) {
	list := strings.HasSuffix(k, "[]")
	k = strings.TrimSuffix(k, "[]")
	if list || len(vs) > 1 {
		items := make([]any, len(vs))
		for i, v := range vs {
			items[i] = v
		}
		p.values[k] = items
		return
	}
	p.values[k] = vs[0]
}

func (p *params) has(name string) bool { _, ok := p.values[name]; return ok }

// str returns a string parameter. Numbers and booleans are accepted as their text.
func (p *params) str(name string) (string, bool, error) {
	v, ok := p.values[name]
	if !ok || v == nil {
		return "", false, nil
	}
	switch x := v.(type) {
	case string:
		return x, true, nil
	case json.Number:
		return x.String(), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	}
	return "", true, paramError(name + " is invalid")
}

func (p *params) strPtr(name string) (*string, error) {
	s, ok, err := p.str(name)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

// requiredStr is a string that must be present and non-blank.
func (p *params) requiredStr(name string) (string, error) {
	s, ok, err := p.str(name)
	if err != nil {
		return "", err
	}
	if !ok || strings.TrimSpace(s) == "" {
		return "", paramError(name + " is missing")
	}
	return s, nil
}

func (p *params) boolean(name string) (*bool, error) {
	v, ok := p.values[name]
	if !ok || v == nil {
		return nil, nil
	}
	var b bool
	switch x := v.(type) {
	case bool:
		b = x
	case string:
		var err error
		if b, err = parseBool(x); err != nil {
			return nil, paramError(name + " is invalid")
		}
	default:
		return nil, paramError(name + " is invalid")
	}
	return &b, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "yes", "t", "on":
		return true, nil
	case "false", "0", "no", "f", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

func (p *params) integer(name string) (*int64, error) {
	s, ok, err := p.str(name)
	if err != nil || !ok {
		return nil, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return nil, paramError(name + " is invalid")
	}
	return &n, nil
}

// date reads a YYYY-MM-DD parameter; "" counts as absent (client-go may send null).
func (p *params) date(name string) (*keygate.Date, error) {
	s, ok, err := p.str(name)
	if err != nil || !ok || s == "" {
		return nil, err
	}
	d, err := keygate.ParseDate(strings.TrimSpace(s))
	if err != nil {
		// Grape's Date coercion also takes a full timestamp; keep its date as written,
		// not shifted to UTC.
		if t, terr := time.Parse(time.RFC3339, strings.TrimSpace(s)); terr == nil {
			return &keygate.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
		}
		return nil, paramError(name + " is invalid")
	}
	return &d, nil
}

// datetime reads an ISO 8601 timestamp or a bare date (midnight UTC).
func (p *params) datetime(name string) (*time.Time, error) {
	s, ok, err := p.str(name)
	if err != nil || !ok || s == "" {
		return nil, err
	}
	t, perr := parseDateTime(s)
	if perr != nil {
		return nil, paramError(name + " is invalid")
	}
	return &t, nil
}

func parseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", keygate.DateLayout} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a datetime: %q", s)
}

// list reads an array parameter; a single string comes back as one item, which
// keygate.ParseScopes then splits on commas (GitLab accepts both forms).
func (p *params) list(name string) ([]string, bool, error) {
	v, ok := p.values[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	switch x := v.(type) {
	case string:
		return []string{x}, true, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, item := range x {
			s, ok := item.(string)
			if !ok {
				return nil, true, paramError(name + " is invalid")
			}
			out = append(out, s)
		}
		return out, true, nil
	}
	return nil, true, paramError(name + " is invalid")
}

// oneOf reads a string restricted to a set of values.
func (p *params) oneOf(name string, allowed ...string) (string, error) {
	s, ok, err := p.str(name)
	if err != nil || !ok {
		return "", err
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", paramError(name + " does not have a valid value")
}

// Pagination defaults of GitLab's REST API.
const (
	defaultPerPage = 20
	maxPerPage     = 100
)

func (p *params) page() (store.Page, error) {
	pg := store.Page{Number: 1, Size: defaultPerPage}
	if n, err := p.integer("page"); err != nil {
		return pg, err
	} else if n != nil && *n > 0 {
		pg.Number = int(*n)
	}
	if n, err := p.integer("per_page"); err != nil {
		return pg, err
	} else if n != nil && *n > 0 {
		pg.Size = int(min(*n, maxPerPage))
	}
	return pg, nil
}

// maxCountedRecords: above it GitLab omits X-Total, X-Total-Pages and rel="last".
const maxCountedRecords = 10_000

// paginate sets GitLab's offset-pagination headers for a page of a list of total items.
func paginate(w http.ResponseWriter, r *http.Request, pg store.Page, total int, externalURL string) {
	h := w.Header()
	pg.Size = max(pg.Size, 1)
	pages := max(1, (total+pg.Size-1)/pg.Size)
	h.Set("X-Page", strconv.Itoa(pg.Number))
	h.Set("X-Per-Page", strconv.Itoa(pg.Size))
	h.Set("X-Prev-Page", "")
	h.Set("X-Next-Page", "")
	outOfRange := pg.Number > pages // Kaminari gives such a page neither prev nor next
	if pg.Number > 1 && !outOfRange {
		h.Set("X-Prev-Page", strconv.Itoa(pg.Number-1))
	}
	if pg.Number < pages {
		h.Set("X-Next-Page", strconv.Itoa(pg.Number+1))
	}
	counted := total <= maxCountedRecords
	if counted {
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(pages))
	}
	link := func(page int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", strconv.Itoa(pg.Size))
		return "<" + externalURL + r.URL.Path + "?" + q.Encode() + `>; rel="` + rel + `"`
	}
	var links []string
	if pg.Number > 1 && !outOfRange {
		links = append(links, link(pg.Number-1, "prev"))
	}
	if pg.Number < pages {
		links = append(links, link(pg.Number+1, "next"))
	}
	links = append(links, link(1, "first"))
	if counted {
		links = append(links, link(pages, "last"))
	}
	h.Set("Link", strings.Join(links, ", "))
}
