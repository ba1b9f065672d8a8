package scenarios

import (
	_ "embed"
	"encoding/json"

	"github.com/invopop/jsonschema"
)

// schemaJSON is the committed schema; a test regenerates it from the types and fails on drift.
//
//go:embed scenario.schema.json
var schemaJSON []byte

// SchemaID is the schema's $id.
const SchemaID = "https://github.com/portlab/portlab/scenarios/scenario.schema.json"

// Schema returns the scenario JSON Schema (draft 2020-12) that `portlab schema` prints.
func Schema() ([]byte, error) { return schemaJSON, nil }

// GenerateSchema builds the schema from the Go types; with srcDir (this package's
// directory) the field comments become descriptions. Tests use it to check the committed
// file and to rewrite it with -update.
func GenerateSchema(srcDir string) ([]byte, error) {
	r := &jsonschema.Reflector{RequiredFromJSONSchemaTags: false}
	if srcDir != "" {
		if err := r.AddGoComments("github.com/portlab/portlab/scenarios", srcDir); err != nil {
			return nil, err
		}
	}
	s := r.Reflect(&Scenario{})
	s.ID = SchemaID
	s.Title = "portlab scenario"
	s.Description = "A rehearsal of a ConfigMgr client communication port change (portlab scenario format v1)."
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// JSONSchemaExtend lists the known metrics in the schema.
func (Gate) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("metric"); ok {
		for _, m := range MetricNames() {
			p.Enum = append(p.Enum, m)
		}
	}
}

// JSONSchemaExtend allows the shorthand `service_time: 2ms` beside the mapping form.
func (ServiceTime) JSONSchemaExtend(s *jsonschema.Schema) {
	obj := *s
	*s = jsonschema.Schema{
		Description: obj.Description,
		OneOf:       []*jsonschema.Schema{Duration(0).JSONSchema(), &obj},
	}
}

// JSONSchemaExtend allows the shorthand `custom_website: true` beside the mapping form.
func (CustomWebsite) JSONSchemaExtend(s *jsonschema.Schema) {
	obj := *s
	*s = jsonschema.Schema{
		Description: obj.Description,
		OneOf:       []*jsonschema.Schema{{Type: "boolean"}, &obj},
	}
}
