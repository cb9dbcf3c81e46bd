package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
)

// Fine-grained tokens on the wire: the granular_scopes request parameter (spec §1.2) and
// the granular_scopes of token objects (spec §2).

// granularScopeJSON is one stored scope of a fine-grained token (GitLab's
// GranularScope entity): project_id / group_id are set only for a scope on a project
// or group namespace, null otherwise.
type granularScopeJSON struct {
	Access      string   `json:"access"`
	Permissions []string `json:"permissions"`
	ProjectID   *int64   `json:"project_id"`
	GroupID     *int64   `json:"group_id"`
}

func granularScopes(t keygate.Token) []granularScopeJSON {
	if !t.Granular {
		return nil
	}
	out := make([]granularScopeJSON, len(t.GranularScopes))
	for i, sc := range t.GranularScopes {
		out[i] = granularScopeJSON{Access: string(sc.Access), Permissions: sc.Permissions}
		if out[i].Permissions == nil {
			out[i].Permissions = []string{}
		}
		if sc.ProjectID != 0 {
			out[i].ProjectID = &sc.ProjectID
		}
		if sc.GroupID != 0 {
			out[i].GroupID = &sc.GroupID
		}
	}
	return out
}

// Grape's exactly_one_of wording for both given; neither keeps the pre-granular
// "scopes is missing" (docs/fine-grained.md).
const msgScopesExclusive = "scopes, granular_scopes are mutually exclusive"

// granularInput reads granular_scopes with Grape's parameter validation: an array of
// objects, each requiring access (one of the five values) and permissions (strings, or
// one comma-separated string); project_ids / group_ids are integer arrays or
// comma-separated strings. It reports whether the parameter was given. Semantic checks
// (known permissions, ids the owner can read, one scope per namespace) are the
// service's.
func granularInput(p *params) ([]service.GranularRequest, bool, error) {
	v, ok := p.values["granular_scopes"]
	if !ok || v == nil {
		return nil, false, nil
	}
	if s, isStr := v.(string); isStr {
		// A form or query value: only a JSON array text is understood.
		var arr []any
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if err := dec.Decode(&arr); err != nil {
			return nil, true, paramError("granular_scopes is invalid")
		}
		v = arr
	}
	items, isList := v.([]any)
	if !isList {
		return nil, true, paramError("granular_scopes is invalid")
	}
	out := make([]service.GranularRequest, 0, len(items))
	for i, it := range items {
		field := func(name string) string { return "granular_scopes[" + strconv.Itoa(i) + "][" + name + "]" }
		obj, isObj := it.(map[string]any)
		if !isObj {
			return nil, true, paramError("granular_scopes[" + strconv.Itoa(i) + "] is invalid")
		}
		var r service.GranularRequest
		acc, present := obj["access"]
		if !present || acc == nil {
			return nil, true, paramError(field("access") + " is missing")
		}
		accStr, _ := acc.(string)
		a, err := keygate.ParseGranularAccess(accStr)
		if err != nil {
			return nil, true, paramError(field("access") + " does not have a valid value")
		}
		r.Access = a
		perms, present := obj["permissions"]
		if !present || perms == nil {
			return nil, true, paramError(field("permissions") + " is missing")
		}
		if r.Permissions, err = stringList(perms); err != nil {
			return nil, true, paramError(field("permissions") + " is invalid")
		}
		if r.ProjectIDs, err = idList(obj["project_ids"]); err != nil {
			return nil, true, paramError(field("project_ids") + " is invalid")
		}
		if r.GroupIDs, err = idList(obj["group_ids"]); err != nil {
			return nil, true, paramError(field("group_ids") + " is invalid")
		}
		out = append(out, r)
	}
	return out, true, nil
}

// stringList accepts ["a","b"] or "a,b". Empty items are kept out; an empty result is
// the service's "is empty" error, not a parameter error.
func stringList(v any) ([]string, error) {
	var raw []string
	switch x := v.(type) {
	case string:
		raw = strings.Split(x, ",")
	case []any:
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("not a string: %v", it)
			}
			raw = append(raw, s)
		}
	default:
		return nil, fmt.Errorf("not a list: %T", v)
	}
	out := []string{}
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// idList accepts [1,2], ["1","2"] or "1,2"; nil is no ids. IDs are positive.
func idList(v any) ([]int64, error) {
	if v == nil {
		return nil, nil
	}
	var raw []string
	switch x := v.(type) {
	case string:
		for s := range strings.SplitSeq(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				raw = append(raw, s)
			}
		}
	case json.Number:
		raw = []string{x.String()}
	case []any:
		for _, it := range x {
			switch y := it.(type) {
			case json.Number:
				raw = append(raw, y.String())
			case string:
				raw = append(raw, strings.TrimSpace(y))
			default:
				return nil, fmt.Errorf("not an id: %v", it)
			}
		}
	default:
		return nil, fmt.Errorf("not a list: %T", v)
	}
	out := make([]int64, 0, len(raw))
	for _, s := range raw {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("not an id: %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// granularPolicyInput reads enforce_granular_tokens and granular_tokens_enforced_after
// (a date; empty or null clears it). nil: neither was given.
func granularPolicyInput(p *params) (*service.GranularPolicyInput, error) {
	enforce, err := p.boolean("enforce_granular_tokens")
	if err != nil {
		return nil, err
	}
	var out service.GranularPolicyInput
	out.Enforce = enforce
	if p.has("granular_tokens_enforced_after") {
		out.SetAfter = true
		if v, ok, _ := p.str("granular_tokens_enforced_after"); ok && v != "" {
			d, err := keygate.ParseDate(v)
			if err != nil {
				return nil, paramError("granular_tokens_enforced_after is invalid")
			}
			out.After = &d
		}
	}
	if out.Enforce == nil && !out.SetAfter {
		return nil, nil
	}
	return &out, nil
}

// ParseGranularScopes reads a granular_scopes JSON array with the API's rules (the admin
// CLI's --granular-scopes), returning the API's message on bad input.
func ParseGranularScopes(text string) ([]service.GranularRequest, error) {
	reqs, _, err := granularInput(&params{values: map[string]any{"granular_scopes": text}})
	if err != nil {
		if ae, ok := err.(*apiError); ok {
			if body, ok := ae.body.(map[string]any); ok {
				return nil, fmt.Errorf("%v", body["error"])
			}
		}
		return nil, err
	}
	if reqs == nil {
		reqs = []service.GranularRequest{}
	}
	return reqs, nil
}
