package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/store"
)

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

// paramsRequest builds a request as a client would send it; ctype "" sends no
// Content-Type header.
func paramsRequest(method, target, ctype, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r
}

// mustReadParams is readParams for requests that must parse.
func mustReadParams(t *testing.T, method, target, ctype, body string) *params {
	t.Helper()
	p, err := readParams(paramsRequest(method, target, ctype, body))
	if err != nil {
		t.Fatalf("readParams(%s %s, %q, %q) error = %v, want nil", method, target, ctype, body, err)
	}
	return p
}

// wantAPIError checks that err is an *apiError with status and the JSON body want.
func wantAPIError(t *testing.T, call string, err error, status int, want string) {
	t.Helper()
	ae, ok := err.(*apiError)
	if !ok {
		t.Fatalf("%s error = %T %v, want *apiError", call, err, err)
	}
	body, merr := json.Marshal(ae.body)
	if merr != nil {
		t.Fatalf("%s: marshal body %v: %v", call, ae.body, merr)
	}
	if ae.status != status || string(body) != want {
		t.Errorf("%s = %d %s, want %d %s", call, ae.status, body, status, want)
	}
}

func multipartBody(t testing.TB, fields [][2]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.String()
}

type readParamsCase struct {
	name   string
	method string
	target string
	ctype  string
	body   string
	// want holds the parsed values on success.
	want map[string]any
	// wantStatus and wantBody describe the *apiError on failure.
	wantStatus int
	wantBody   string
}

var readParamsCases = []readParamsCase{
	{
		name: "query only", method: "GET", target: "/api/v4/personal_access_tokens?state=active&page=2",
		want: map[string]any{"state": "active", "page": "2"},
	},
	{
		name: "query list and repeated key", method: "GET", target: "/x?scopes[]=api&scopes[]=read_user&id=1&id=2",
		want: map[string]any{"scopes": []any{"api", "read_user"}, "id": []any{"1", "2"}},
	},
	{
		name: "query single bracketed item is a list", method: "GET", target: "/x?scopes[]=api",
		want: map[string]any{"scopes": []any{"api"}},
	},
	{
		name: "GET body is ignored", method: "GET", target: "/x?a=1", ctype: ctJSON, body: `{"a":"2","b":3}`,
		want: map[string]any{"a": "1"},
	},
	{
		name: "HEAD body is ignored", method: "HEAD", target: "/x", ctype: ctJSON, body: `{`,
		want: map[string]any{},
	},
	{
		name: "JSON object", method: "POST", target: "/x", ctype: ctJSON,
		body: `{"name":"ci","scopes":["api","read_user"],"expires_at":"2027-01-31","user_id":7,"revoked":true,"description":null}`,
		want: map[string]any{
			"name": "ci", "scopes": []any{"api", "read_user"}, "expires_at": "2027-01-31",
			"user_id": json.Number("7"), "revoked": true, "description": nil,
		},
	},
	{
		name: "JSON with charset", method: "PUT", target: "/x", ctype: "application/json; charset=utf-8", body: `{"name":"ci"}`,
		want: map[string]any{"name": "ci"},
	},
	{
		name: "JSON without content type", method: "POST", target: "/x", body: `{"name":"ci"}`,
		want: map[string]any{"name": "ci"},
	},
	{
		name: "body wins over query", method: "POST", target: "/x?name=query&page=3", ctype: ctJSON, body: `{"name":"body"}`,
		want: map[string]any{"name": "body", "page": "3"},
	},
	{
		name: "JSON null body", method: "POST", target: "/x?a=1", ctype: ctJSON, body: `null`,
		want: map[string]any{"a": "1"},
	},
	{
		name: "blank body", method: "POST", target: "/x?a=1", ctype: ctJSON, body: " \n\t ",
		want: map[string]any{"a": "1"},
	},
	{
		name: "empty body", method: "DELETE", target: "/x", ctype: ctJSON,
		want: map[string]any{},
	},
	{
		name: "form body", method: "POST", target: "/x", ctype: ctForm,
		body: "name=ci&scopes[]=api&scopes[]=read_user&expires_at=2027-01-31",
		want: map[string]any{"name": "ci", "scopes": []any{"api", "read_user"}, "expires_at": "2027-01-31"},
	},
	{
		name: "form body comma list", method: "POST", target: "/x", ctype: ctForm, body: "scopes=api%2Cread_user",
		want: map[string]any{"scopes": "api,read_user"},
	},
	{
		name: "form body wins over query", method: "POST", target: "/x?name=q", ctype: ctForm, body: "name=b",
		want: map[string]any{"name": "b"},
	},
	{
		name: "form body without content type", method: "POST", target: "/x", body: "name=ci&scopes=api",
		want: map[string]any{"name": "ci", "scopes": "api"},
	},
	{
		name: "malformed JSON", method: "POST", target: "/x", ctype: ctJSON, body: `{"name":`,
		wantStatus: 400, wantBody: `{"error":"Invalid JSON format"}`,
	},
	{
		name: "JSON array is not an object", method: "POST", target: "/x", ctype: ctJSON, body: `["api"]`,
		wantStatus: 400, wantBody: `{"error":"Invalid JSON format"}`,
	},
	{
		name: "JSON string is not an object", method: "POST", target: "/x", ctype: ctJSON, body: `"api"`,
		wantStatus: 400, wantBody: `{"error":"Invalid JSON format"}`,
	},
	{
		name: "two JSON objects", method: "POST", target: "/x", ctype: ctJSON, body: `{"a":1} {"b":2}`,
		wantStatus: 400, wantBody: `{"error":"Invalid JSON format"}`,
	},
	{
		name: "JSON then garbage", method: "POST", target: "/x", ctype: ctJSON, body: `{"a":1} x`,
		wantStatus: 400, wantBody: `{"error":"Invalid JSON format"}`,
	},
	{
		name: "neither JSON nor form without content type", method: "POST", target: "/x", body: `{"name":%zz`,
		wantStatus: 400, wantBody: `{"error":"Invalid JSON format"}`,
	},
	{
		name: "malformed form", method: "POST", target: "/x", ctype: ctForm, body: "name=%zz",
		wantStatus: 400, wantBody: `{"error":"the form body is malformed"}`,
	},
	{
		name: "multipart without boundary", method: "POST", target: "/x", ctype: "multipart/form-data", body: "name=ci",
		wantStatus: 400, wantBody: `{"error":"the multipart body is malformed"}`,
	},
	{
		name: "unsupported content type", method: "POST", target: "/x", ctype: "text/plain", body: "name=ci",
		wantStatus: 415, wantBody: `{"error":"The provided content-type 'text/plain' is not supported."}`,
	},
}

func TestReadParams(t *testing.T) {
	t.Parallel()
	for _, tc := range readParamsCases {
		t.Run(tc.name, func(t *testing.T) {
			call := "readParams(" + tc.method + " " + tc.target + ", " + tc.ctype + ", " + tc.body + ")"
			p, err := readParams(paramsRequest(tc.method, tc.target, tc.ctype, tc.body))
			if tc.wantStatus != 0 {
				if p != nil {
					t.Errorf("%s = %v, want nil params with the error", call, p.values)
				}
				wantAPIError(t, call, err, tc.wantStatus, tc.wantBody)
				return
			}
			if err != nil {
				t.Fatalf("%s error = %v, want nil", call, err)
			}
			if !reflect.DeepEqual(p.values, tc.want) {
				t.Errorf("%s = %#v, want %#v", call, p.values, tc.want)
			}
		})
	}
}

func TestReadParamsMultipart(t *testing.T) {
	t.Parallel()
	ctype, body := multipartBody(t, [][2]string{{"name", "ci"}, {"scopes[]", "api"}, {"scopes[]", "read_user"}})
	p := mustReadParams(t, "POST", "/x?page=2", ctype, body)
	want := map[string]any{"name": "ci", "scopes": []any{"api", "read_user"}, "page": "2"}
	if !reflect.DeepEqual(p.values, want) {
		t.Errorf("readParams(multipart) = %#v, want %#v", p.values, want)
	}
}

func TestReadParamsTooLarge(t *testing.T) {
	t.Parallel()
	r := paramsRequest("POST", "/x", ctJSON, `{"name":"`+strings.Repeat("a", 100)+`"}`)
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 16)
	p, err := readParams(r)
	if p != nil {
		t.Errorf("readParams(oversized) = %v, want nil", p.values)
	}
	wantAPIError(t, "readParams(oversized)", err, 413, `{"message":"413 Request Entity Too Large"}`)
}

func TestParamsList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name              string
		method, target    string
		ctype, body       string
		want              []string
		wantOK            bool
		wantErr           string
		wantScopes        keygate.Scopes
		wantScopesInvalid bool
	}{
		{name: "absent", method: "GET", target: "/x"},
		{name: "JSON null", method: "POST", target: "/x", ctype: ctJSON, body: `{"scopes":null}`},
		{
			name: "query comma list stays one item", method: "GET", target: "/x?scopes=api,read_user",
			want: []string{"api,read_user"}, wantOK: true, wantScopes: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadUser},
		},
		{
			name: "query bracket list", method: "GET", target: "/x?scopes[]=api&scopes[]=read_user",
			want: []string{"api", "read_user"}, wantOK: true, wantScopes: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadUser},
		},
		{
			name: "bracket list of comma lists", method: "GET", target: "/x?scopes[]=api,sudo&scopes[]=read_user",
			want: []string{"api,sudo", "read_user"}, wantOK: true, wantScopes: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeSudo, keygate.ScopeReadUser},
		},
		{
			name: "form repeated key", method: "POST", target: "/x", ctype: ctForm, body: "scopes=api&scopes=read_api",
			want: []string{"api", "read_api"}, wantOK: true, wantScopes: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadAPI},
		},
		{
			name: "JSON array", method: "POST", target: "/x", ctype: ctJSON, body: `{"scopes":["api","read_user","api"]}`,
			want: []string{"api", "read_user", "api"}, wantOK: true, wantScopes: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadUser},
		},
		{
			name: "JSON comma string", method: "POST", target: "/x", ctype: ctJSON, body: `{"scopes":"api, read_user"}`,
			want: []string{"api, read_user"}, wantOK: true, wantScopes: keygate.Scopes{keygate.ScopeAPI, keygate.ScopeReadUser},
		},
		{
			name: "JSON empty array", method: "POST", target: "/x", ctype: ctJSON, body: `{"scopes":[]}`,
			want: []string{}, wantOK: true,
		},
		{
			name: "unknown scope in list", method: "GET", target: "/x?scopes=api,nope",
			want: []string{"api,nope"}, wantOK: true, wantScopesInvalid: true,
		},
		{name: "JSON number", method: "POST", target: "/x", ctype: ctJSON, body: `{"scopes":5}`, wantOK: true, wantErr: `{"error":"scopes is invalid"}`},
		{name: "JSON object", method: "POST", target: "/x", ctype: ctJSON, body: `{"scopes":{"a":"api"}}`, wantOK: true, wantErr: `{"error":"scopes is invalid"}`},
		{name: "JSON array of numbers", method: "POST", target: "/x", ctype: ctJSON, body: `{"scopes":["api",1]}`, wantOK: true, wantErr: `{"error":"scopes is invalid"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustReadParams(t, tc.method, tc.target, tc.ctype, tc.body)
			got, ok, err := p.list("scopes")
			if tc.wantErr != "" {
				if ok != tc.wantOK {
					t.Errorf("p.list(scopes) ok = %v, want %v", ok, tc.wantOK)
				}
				wantAPIError(t, "p.list(scopes)", err, 400, tc.wantErr)
				return
			}
			if err != nil || ok != tc.wantOK || !slices.Equal(got, tc.want) || (tc.want != nil) != (got != nil) {
				t.Fatalf("p.list(scopes) = %#v, %v, %v, want %#v, %v, nil", got, ok, err, tc.want, tc.wantOK)
			}
			scopes, err := keygate.ParseScopes(got...)
			if tc.wantScopesInvalid {
				if err == nil {
					t.Errorf("ParseScopes(%q) = %v, nil, want an error", got, scopes)
				}
				return
			}
			if err != nil || !slices.Equal(scopes, tc.wantScopes) {
				t.Errorf("ParseScopes(%q) = %v, %v, want %v, nil", got, scopes, err, tc.wantScopes)
			}
		})
	}
}

func TestParamsDate(t *testing.T) {
	t.Parallel()
	d := func(y int, m time.Month, day int) *keygate.Date { return &keygate.Date{Year: y, Month: m, Day: day} }
	cases := []struct {
		name        string
		ctype, body string
		want        *keygate.Date
		wantErr     string
	}{
		{name: "absent", ctype: ctJSON, body: `{}`},
		{name: "null", ctype: ctJSON, body: `{"expires_at":null}`},
		{name: "empty string", ctype: ctJSON, body: `{"expires_at":""}`},
		{name: "date", ctype: ctJSON, body: `{"expires_at":"2027-01-31"}`, want: d(2027, time.January, 31)},
		{name: "leap day", ctype: ctJSON, body: `{"expires_at":"2028-02-29"}`, want: d(2028, time.February, 29)},
		{name: "padded date", ctype: ctJSON, body: `{"expires_at":" 2027-01-31 "}`, want: d(2027, time.January, 31)},
		{name: "form date", ctype: ctForm, body: `expires_at=2027-01-31`, want: d(2027, time.January, 31)},
		{name: "RFC 3339 UTC", ctype: ctJSON, body: `{"expires_at":"2027-01-31T10:20:30Z"}`, want: d(2027, time.January, 31)},
		{name: "RFC 3339 UTC midnight", ctype: ctJSON, body: `{"expires_at":"2027-01-31T00:00:00Z"}`, want: d(2027, time.January, 31)},
		{name: "RFC 3339 zero offset", ctype: ctJSON, body: `{"expires_at":"2027-01-31T12:00:00+00:00"}`, want: d(2027, time.January, 31)},
		{name: "RFC 3339 fractional", ctype: ctJSON, body: `{"expires_at":"2027-01-31T12:00:00.123Z"}`, want: d(2027, time.January, 31)},
		{name: "soon", ctype: ctJSON, body: `{"expires_at":"soon"}`, wantErr: `{"error":"expires_at is invalid"}`},
		{name: "impossible date", ctype: ctJSON, body: `{"expires_at":"2025-02-30"}`, wantErr: `{"error":"expires_at is invalid"}`},
		{name: "slashes", ctype: ctJSON, body: `{"expires_at":"2027/01/31"}`, wantErr: `{"error":"expires_at is invalid"}`},
		{name: "boolean", ctype: ctJSON, body: `{"expires_at":true}`, wantErr: `{"error":"expires_at is invalid"}`},
		{name: "array", ctype: ctJSON, body: `{"expires_at":["2027-01-31"]}`, wantErr: `{"error":"expires_at is invalid"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustReadParams(t, "POST", "/x", tc.ctype, tc.body)
			got, err := p.date("expires_at")
			call := "p.date(expires_at) for " + tc.body
			if tc.wantErr != "" {
				if got != nil {
					t.Errorf("%s = %v, want nil with the error", call, got)
				}
				wantAPIError(t, call, err, 400, tc.wantErr)
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %v, %v, want %v, nil", call, got, err, tc.want)
			}
		})
	}
}

func TestParamsBoolean(t *testing.T) {
	t.Parallel()
	tr, fa := true, false
	cases := []struct {
		name    string
		target  string
		body    string // JSON, when set
		want    *bool
		wantErr bool
	}{
		{name: "absent", target: "/x"},
		{name: "JSON null", target: "/x", body: `{"revoked":null}`},
		{name: "JSON true", target: "/x", body: `{"revoked":true}`, want: &tr},
		{name: "JSON false", target: "/x", body: `{"revoked":false}`, want: &fa},
		{name: "true", target: "/x?revoked=true", want: &tr},
		{name: "TRUE", target: "/x?revoked=TRUE", want: &tr},
		{name: "1", target: "/x?revoked=1", want: &tr},
		{name: "yes", target: "/x?revoked=yes", want: &tr},
		{name: "t", target: "/x?revoked=t", want: &tr},
		{name: "on", target: "/x?revoked=on", want: &tr},
		{name: "false", target: "/x?revoked=false", want: &fa},
		{name: "False", target: "/x?revoked=False", want: &fa},
		{name: "0", target: "/x?revoked=0", want: &fa},
		{name: "no", target: "/x?revoked=no", want: &fa},
		{name: "f", target: "/x?revoked=f", want: &fa},
		{name: "off", target: "/x?revoked=off", want: &fa},
		{name: "JSON string true", target: "/x", body: `{"revoked":"true"}`, want: &tr},
		{name: "maybe", target: "/x?revoked=maybe", wantErr: true},
		{name: "JSON number", target: "/x", body: `{"revoked":1}`, wantErr: true},
		{name: "list", target: "/x?revoked=true&revoked=false", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, ctype := "GET", ""
			if tc.body != "" {
				method, ctype = "POST", ctJSON
			}
			p := mustReadParams(t, method, tc.target, ctype, tc.body)
			got, err := p.boolean("revoked")
			call := "p.boolean(revoked) for " + tc.target + " " + tc.body
			if tc.wantErr {
				if got != nil {
					t.Errorf("%s = %v, want nil with the error", call, *got)
				}
				wantAPIError(t, call, err, 400, `{"error":"revoked is invalid"}`)
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %v, %v, want %v, nil", call, fmtPtr(got), err, fmtPtr(tc.want))
			}
		})
	}
}

func TestParamsInteger(t *testing.T) {
	t.Parallel()
	n := func(v int64) *int64 { return &v }
	cases := []struct {
		name    string
		target  string
		body    string // JSON, when set
		want    *int64
		wantErr bool
	}{
		{name: "absent", target: "/x"},
		{name: "JSON null", target: "/x", body: `{"user_id":null}`},
		{name: "query", target: "/x?user_id=42", want: n(42)},
		{name: "padded", target: "/x?user_id=%2042%20", want: n(42)},
		{name: "negative", target: "/x?user_id=-3", want: n(-3)},
		{name: "plus sign", target: "/x?user_id=%2B5", want: n(5)},
		{name: "max int64", target: "/x?user_id=9223372036854775807", want: n(9223372036854775807)},
		{name: "JSON number", target: "/x", body: `{"user_id":42}`, want: n(42)},
		{name: "JSON string", target: "/x", body: `{"user_id":"42"}`, want: n(42)},
		{name: "word", target: "/x?user_id=abc", wantErr: true},
		{name: "decimal", target: "/x?user_id=4.0", wantErr: true},
		{name: "overflow", target: "/x?user_id=9223372036854775808", wantErr: true},
		{name: "JSON fraction", target: "/x", body: `{"user_id":4.5}`, wantErr: true},
		{name: "JSON exponent", target: "/x", body: `{"user_id":1e3}`, wantErr: true},
		{name: "JSON boolean", target: "/x", body: `{"user_id":true}`, wantErr: true},
		{name: "JSON array", target: "/x", body: `{"user_id":[1]}`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, ctype := "GET", ""
			if tc.body != "" {
				method, ctype = "POST", ctJSON
			}
			p := mustReadParams(t, method, tc.target, ctype, tc.body)
			got, err := p.integer("user_id")
			call := "p.integer(user_id) for " + tc.target + " " + tc.body
			if tc.wantErr {
				if got != nil {
					t.Errorf("%s = %d, want nil with the error", call, *got)
				}
				wantAPIError(t, call, err, 400, `{"error":"user_id is invalid"}`)
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %v, %v, want %v, nil", call, fmtPtr(got), err, fmtPtr(tc.want))
			}
		})
	}
}

func fmtPtr[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestParamsPage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		target  string
		body    string // JSON, when set
		want    store.Page
		wantErr string
	}{
		{name: "defaults", target: "/x", want: store.Page{Number: 1, Size: 20}},
		{name: "both", target: "/x?page=3&per_page=50", want: store.Page{Number: 3, Size: 50}},
		{name: "per_page at cap", target: "/x?per_page=100", want: store.Page{Number: 1, Size: 100}},
		{name: "per_page capped", target: "/x?per_page=101", want: store.Page{Number: 1, Size: 100}},
		{name: "per_page huge", target: "/x?per_page=9223372036854775807", want: store.Page{Number: 1, Size: 100}},
		{name: "per_page 1", target: "/x?per_page=1", want: store.Page{Number: 1, Size: 1}},
		{name: "page 0", target: "/x?page=0", want: store.Page{Number: 1, Size: 20}},
		{name: "page negative", target: "/x?page=-2", want: store.Page{Number: 1, Size: 20}},
		{name: "per_page 0", target: "/x?per_page=0", want: store.Page{Number: 1, Size: 20}},
		{name: "per_page negative", target: "/x?per_page=-5", want: store.Page{Number: 1, Size: 20}},
		{name: "JSON numbers", target: "/x", body: `{"page":2,"per_page":10}`, want: store.Page{Number: 2, Size: 10}},
		{name: "JSON strings", target: "/x", body: `{"page":"2","per_page":"10"}`, want: store.Page{Number: 2, Size: 10}},
		{name: "non-numeric page", target: "/x?page=abc", wantErr: `{"error":"page is invalid"}`},
		{name: "fractional page", target: "/x?page=1.5", wantErr: `{"error":"page is invalid"}`},
		{name: "non-numeric per_page", target: "/x?per_page=lots", wantErr: `{"error":"per_page is invalid"}`},
		{name: "overflowing per_page", target: "/x?per_page=99999999999999999999", wantErr: `{"error":"per_page is invalid"}`},
		{name: "both wrong reports page", target: "/x?page=x&per_page=y", wantErr: `{"error":"page is invalid"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, ctype := "GET", ""
			if tc.body != "" {
				method, ctype = "POST", ctJSON
			}
			p := mustReadParams(t, method, tc.target, ctype, tc.body)
			got, err := p.page()
			call := "p.page() for " + tc.target + " " + tc.body
			if tc.wantErr != "" {
				wantAPIError(t, call, err, 400, tc.wantErr)
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("%s = %+v, %v, want %+v, nil", call, got, err, tc.want)
			}
		})
	}
}

func TestPaginate(t *testing.T) {
	t.Parallel()
	const ext = "https://keygate.example"
	const path = "/api/v4/personal_access_tokens"
	link := func(page, perPage, rel string) string {
		return "<" + ext + path + "?page=" + page + "&per_page=" + perPage + "&state=active>; rel=\"" + rel + "\""
	}
	cases := []struct {
		name  string
		pg    store.Page
		total int
		want  map[string]string
	}{
		{
			name: "first of three", pg: store.Page{Number: 1, Size: 10}, total: 25,
			want: map[string]string{
				"X-Page": "1", "X-Per-Page": "10", "X-Total": "25", "X-Total-Pages": "3",
				"X-Next-Page": "2", "X-Prev-Page": "",
				"Link": strings.Join([]string{link("2", "10", "next"), link("1", "10", "first"), link("3", "10", "last")}, ", "),
			},
		},
		{
			name: "middle", pg: store.Page{Number: 2, Size: 10}, total: 25,
			want: map[string]string{
				"X-Page": "2", "X-Per-Page": "10", "X-Total": "25", "X-Total-Pages": "3",
				"X-Next-Page": "3", "X-Prev-Page": "1",
				"Link": strings.Join([]string{link("1", "10", "prev"), link("3", "10", "next"), link("1", "10", "first"), link("3", "10", "last")}, ", "),
			},
		},
		{
			name: "last", pg: store.Page{Number: 3, Size: 10}, total: 25,
			want: map[string]string{
				"X-Page": "3", "X-Per-Page": "10", "X-Total": "25", "X-Total-Pages": "3",
				"X-Next-Page": "", "X-Prev-Page": "2",
				"Link": strings.Join([]string{link("2", "10", "prev"), link("1", "10", "first"), link("3", "10", "last")}, ", "),
			},
		},
		{
			name: "exactly full pages", pg: store.Page{Number: 2, Size: 10}, total: 20,
			want: map[string]string{
				"X-Page": "2", "X-Per-Page": "10", "X-Total": "20", "X-Total-Pages": "2",
				"X-Next-Page": "", "X-Prev-Page": "1",
				"Link": strings.Join([]string{link("1", "10", "prev"), link("1", "10", "first"), link("2", "10", "last")}, ", "),
			},
		},
		{
			name: "single page", pg: store.Page{Number: 1, Size: 20}, total: 5,
			want: map[string]string{
				"X-Page": "1", "X-Per-Page": "20", "X-Total": "5", "X-Total-Pages": "1",
				"X-Next-Page": "", "X-Prev-Page": "",
				"Link": strings.Join([]string{link("1", "20", "first"), link("1", "20", "last")}, ", "),
			},
		},
		{
			name: "empty list", pg: store.Page{Number: 1, Size: 20}, total: 0,
			want: map[string]string{
				"X-Page": "1", "X-Per-Page": "20", "X-Total": "0", "X-Total-Pages": "1",
				"X-Next-Page": "", "X-Prev-Page": "",
				"Link": strings.Join([]string{link("1", "20", "first"), link("1", "20", "last")}, ", "),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The request's own page and per_page are replaced in the links; other
			// parameters are kept.
			r := httptest.NewRequest("GET", path+"?state=active&page=9&per_page=7", nil)
			w := httptest.NewRecorder()
			paginate(w, r, tc.pg, tc.total, ext)
			h := w.Header()
			for k, want := range tc.want {
				if vs := h.Values(k); len(vs) != 1 || vs[0] != want {
					t.Errorf("paginate(%+v, total %d) header %s = %q, want [%q]", tc.pg, tc.total, k, vs, want)
				}
			}
			if strings.Contains(h.Get("Link"), `rel="prev"`) != (tc.want["X-Prev-Page"] != "") {
				t.Errorf("paginate(%+v, total %d) Link = %q, want rel=prev exactly when X-Prev-Page is set", tc.pg, tc.total, h.Get("Link"))
			}
		})
	}
}

// paramsFuzzMethods are the methods FuzzParams picks from.
var paramsFuzzMethods = []string{"POST", "PUT", "GET", "DELETE", "PATCH", "HEAD"}

func FuzzParams(f *testing.F) {
	for _, tc := range readParamsCases {
		_, query, _ := strings.Cut(tc.target, "?")
		f.Add(uint8(slices.Index(paramsFuzzMethods, tc.method)), tc.ctype, query, []byte(tc.body))
	}
	ctype, body := multipartBody(f, [][2]string{{"name", "ci"}, {"scopes[]", "api"}, {"page", "2"}})
	f.Add(uint8(0), ctype, "per_page=5", []byte(body))
	f.Add(uint8(0), ctJSON, "page=2&per_page=1000", []byte(`{"scopes":"api,read_user","expires_at":"2027-01-31T10:00:00Z","revoked":"yes","user_id":3}`))
	f.Add(uint8(0), ctJSON, "", []byte(`{"page":1e400,"per_page":-0}`))
	f.Add(uint8(0), ctForm, "scopes[]=api&scopes[]=%zz", []byte("expires_at=soon&revoked=maybe&user_id=x"))
	f.Fuzz(func(t *testing.T, m uint8, ctype, query string, body []byte) {
		method := paramsFuzzMethods[int(m)%len(paramsFuzzMethods)]
		r := httptest.NewRequest(method, "/api/v4/x", bytes.NewReader(body))
		r.URL.RawQuery = query
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBodyBytes)
		p, err := readParams(r)
		if err != nil {
			checkClientError(t, "readParams", err)
			if p != nil {
				t.Fatalf("readParams = %v, %v, want nil params with an error", p.values, err)
			}
			return
		}
		if p == nil {
			t.Fatal("readParams = nil, nil, want params")
		}
		// Every accessor either answers or refuses with a 400 in Grape's shape.
		pg, err := p.page()
		if err != nil {
			checkClientError(t, "p.page()", err)
		} else if pg.Number < 1 || pg.Size < 1 || pg.Size > maxPerPage {
			t.Fatalf("p.page() = %+v, want Number ≥ 1 and 1 ≤ Size ≤ %d", pg, maxPerPage)
		}
		if items, _, err := p.list("scopes"); err != nil {
			checkClientError(t, "p.list(scopes)", err)
		} else {
			_, _ = keygate.ParseScopes(items...)
		}
		if d, err := p.date("expires_at"); err != nil {
			checkClientError(t, "p.date(expires_at)", err)
		} else if d != nil {
			if again, err := keygate.ParseDate(d.String()); err != nil || again != *d {
				t.Fatalf("p.date(expires_at) = %v, which does not round-trip: %v, %v", *d, again, err)
			}
		}
		if _, err := p.boolean("revoked"); err != nil {
			checkClientError(t, "p.boolean(revoked)", err)
		}
		if _, err := p.integer("user_id"); err != nil {
			checkClientError(t, "p.integer(user_id)", err)
		}
		if _, _, err := p.str("name"); err != nil {
			checkClientError(t, "p.str(name)", err)
		}
		if _, err := p.datetime("created_after"); err != nil {
			checkClientError(t, "p.datetime(created_after)", err)
		}
	})
}

// checkClientError fails unless err is an *apiError with a 4xx status and a body.
func checkClientError(t *testing.T, call string, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) || err != error(ae) {
		t.Fatalf("%s error = %T %v, want *apiError", call, err, err)
	}
	if ae.status < 400 || ae.status > 499 {
		t.Fatalf("%s = status %d, want 4xx", call, ae.status)
	}
	if ae.body == nil {
		t.Fatalf("%s = status %d with no body, want GitLab's body", call, ae.status)
	}
}
