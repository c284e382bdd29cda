// Tollgate's tests see the plain database toolkit (the test server, scratch databases,
// `eventually`) through this layer, as one module.
@_exported public import PostgresTestSupport
