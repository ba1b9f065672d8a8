package scenarios

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and the committed schema")

func TestSchemaMatchesTypes(t *testing.T) {
	got, err := GenerateSchema(".")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("scenario.schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("scenario.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("scenarios/scenario.schema.json is out of date with the Go types; run: go test ./scenarios -run TestSchemaMatchesTypes -update")
	}
	var doc map[string]any
	if err := json.Unmarshal(want, &doc); err != nil {
		t.Fatalf("committed schema is not JSON: %v", err)
	}
	if doc["$schema"] == nil || doc["$defs"] == nil {
		t.Fatalf("schema lacks $schema or $defs")
	}
}
