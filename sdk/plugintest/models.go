package plugintest

import "github.com/tzurot-go/tzurot/sdk/abi"

// Models calls the models export (capability llm.models) for the harness's
// user. A typed error is returned for the test to inspect; a trap fails
// the test, and so does a recorded usage row: listing models is never
// billed (docs/plugin-abi.md §5.5).
func (h *Harness) Models() (abi.ModelList, *abi.Error) {
	h.tb.Helper()
	var out abi.ModelList
	res := h.Call(abi.ModelsExport, abi.ModelsRequest{})
	if len(res.Usage) != 0 {
		h.tb.Errorf("models recorded usage %+v; listing models is never billed", res.Usage)
	}
	e := h.mustOK(abi.ModelsExport, res, &out)
	return out, e
}
