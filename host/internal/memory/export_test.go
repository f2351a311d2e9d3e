package memory

// RetrieveSQL is the retrieval statement, for plan checks.
var RetrieveSQL = retrieveSQL
