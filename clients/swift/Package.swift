// swift-tools-version:6.0
// `journey`: every documented flow run against a live server through a client that
// swift-openapi-generator makes from the repository's openapi.yaml (a link to the server's own
// document), as an integrator would generate one (scripts/test-clients). A package of its own,
// so that the server's build never waits for the generator; built into .build-clients.
import PackageDescription

let package = Package(
    name: "TollgateClients",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator", exact: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", exact: "1.13.4"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession", exact: "1.4.0"),
    ],
    targets: [
        .executableTarget(
            name: "journey",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
            ],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        )
    ]
)
