// Renders Go text/template cases for test/export/modelfile.test.ts with Go's own text/template,
// set up as Ollama sets it up (missingkey=zero). Reads a JSON list of {template, data} on
// standard input and writes a JSON list of {text} or {error}, one per case.
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type testCase struct {
	Template string         `json:"template"`
	Data     map[string]any `json:"data"`
}

type result struct {
	Text  *string `json:"text,omitempty"`
	Error *string `json:"error,omitempty"`
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		t, err := template.New("").Option("missingkey=zero").Parse(c.Template)
		if err == nil {
			var sb strings.Builder
			if err = t.Execute(&sb, c.Data); err == nil {
				text := sb.String()
				results[i].Text = &text
			}
		}
		if err != nil {
			msg := err.Error()
			results[i].Error = &msg
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		panic(err)
	}
}
