import Foundation
import HTTPTypes
import Testing

@testable import TollgateCore
@testable import TollgateHTTP

/// The request and answer types of every route against openapi.yaml: a field added to a type
/// but not documented, or documented but never decoded or encoded, fails here. The document
/// is read with a small parser for its own layout (``YAMLNode``).
@Suite struct OpenAPIContractTests {
    static let document: YAMLNode = {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = (try? String(contentsOf: repository.appendingPathComponent("openapi.yaml"), encoding: .utf8)) ?? ""
        return YAMLNode.parse(text)
    }()

    // MARK: Requests

    /// Each operation that takes a body, its type and the names of its fields (a nested
    /// object's under its field's name).
    static let requests: [(operation: String, type: any RequestBody.Type, fields: [String: Set<String>])] = [
        ("POST /v1/auth/login", LoginRequest.self, ["": names(LoginRequest.CodingKeys.self)]),
        ("POST /v1/auth/login/verify", VerifyLoginRequest.self, ["": names(VerifyLoginRequest.CodingKeys.self)]),
        ("POST /v1/auth/login/challenge", ChallengeTokenRequest.self, ["": names(ChallengeTokenRequest.CodingKeys.self)]),
        ("POST /v1/auth/login/resend", ChallengeTokenRequest.self, ["": names(ChallengeTokenRequest.CodingKeys.self)]),
        ("POST /v1/auth/login/email", ChallengeTokenRequest.self, ["": names(ChallengeTokenRequest.CodingKeys.self)]),
        ("POST /v1/auth/login/passkey/options", ChallengeTokenRequest.self, ["": names(ChallengeTokenRequest.CodingKeys.self)]),
        (
            "POST /v1/auth/login/passkey/verify", PasskeyLoginRequest.self,
            ["": names(PasskeyLoginRequest.CodingKeys.self), "credential": credentialMembers]
        ),
        ("PATCH /v1/company/security/policy", PolicyRequest.self, ["": names(PolicyRequest.CodingKeys.self)]),
        ("POST /v1/auth/password/forgot", ForgotPasswordRequest.self, ["": names(ForgotPasswordRequest.CodingKeys.self)]),
        ("POST /v1/auth/password/reset", ResetPasswordRequest.self, ["": names(ResetPasswordRequest.CodingKeys.self)]),
        ("POST /v1/auth/not-me", NotMeRequest.self, ["": names(NotMeRequest.CodingKeys.self)]),
        ("POST /v1/account/password", ChangePasswordRequest.self, ["": names(ChangePasswordRequest.CodingKeys.self)]),
        (
            "POST /v1/company/security/two-factor/activation/{id}/verify", VerifyActivationRequest.self,
            ["": names(VerifyActivationRequest.CodingKeys.self)]
        ),
        ("POST /v1/company/security/two-factor/enable", EnableTwoFactorRequest.self, ["": names(EnableTwoFactorRequest.CodingKeys.self)]),
        ("POST /v1/company/security/two-factor/disable", DisableTwoFactorRequest.self, ["": names(DisableTwoFactorRequest.CodingKeys.self)]),
        (
            "POST /v1/admin/companies", CreateCompanyRequest.self,
            ["": names(CreateCompanyRequest.CodingKeys.self), "owner": names(CreateCompanyRequest.Owner.CodingKeys.self)]
        ),
        ("PATCH /v1/admin/companies/{id}", UpdateCompanyRequest.self, ["": names(UpdateCompanyRequest.CodingKeys.self)]),
        ("POST /v1/admin/companies/{id}/users", CreateUserRequest.self, ["": names(CreateUserRequest.CodingKeys.self)]),
        ("PATCH /v1/admin/users/{id}", UpdateUserRequest.self, ["": names(UpdateUserRequest.CodingKeys.self)]),
        ("POST /v1/me/methods/totp", StartTOTPRequest.self, ["": names(StartTOTPRequest.CodingKeys.self)]),
        ("POST /v1/me/methods/totp/{id}/confirm", ConfirmTOTPRequest.self, ["": names(ConfirmTOTPRequest.CodingKeys.self)]),
        ("DELETE /v1/me/methods/{id}", PasswordConfirmation.self, ["": names(PasswordConfirmation.CodingKeys.self)]),
        ("POST /v1/me/methods/passkeys/options", PasswordConfirmation.self, ["": names(PasswordConfirmation.CodingKeys.self)]),
        (
            "POST /v1/me/methods/passkeys", RegisterPasskeyRequest.self,
            ["": names(RegisterPasskeyRequest.CodingKeys.self), "credential": credentialMembers]
        ),
        ("POST /v1/company/users/{id}/reset-methods", PasswordConfirmation.self, ["": names(PasswordConfirmation.CodingKeys.self)]),
        ("POST /v1/company/security/end-all-sessions", EndAllSessionsRequest.self, ["": names(EndAllSessionsRequest.CodingKeys.self)]),
    ]

    /// The members of a `PublicKeyCredential`'s JSON form that ``PublicKeyCredentialJSON`` decodes
    /// (its CodingKeys are synthesized); the rest of what `toJSON()` sends is ignored.
    static let credentialMembers: Set<String> = ["id", "rawId", "type", "response"]

    /// Documented as required, yet decoded as optional on purpose: a missing `confirm` is 400
    /// `confirmation_required` (SPEC §4), and `activation_id` is only asked for once confirmed.
    static let optionalOnPurpose: Set<String> = [
        "POST /v1/company/security/two-factor/enable confirm", "POST /v1/company/security/two-factor/enable activation_id",
        "POST /v1/company/security/two-factor/disable confirm",
    ]

    @Test func everyDocumentedRequestBodyHasItsType() {
        let documented = Set(Self.operations().filter { Self.requestSchema($0) != nil })
        #expect(documented == Set(Self.requests.map(\.operation)))
        #expect(documented.count >= 15)
    }

    @Test(arguments: requests.indices)
    func requestFieldsAreTheDocumentedOnes(index: Int) throws {
        let (operation, type, fields) = Self.requests[index]
        let schema = try #require(Self.requestSchema(operation).map(Self.resolve), "\(operation)")
        let properties = try #require(schema["properties"]?.map, "\(operation)")
        #expect(Set(properties.map { $0.0 }) == fields[""], "\(operation)")
        for (name, nested) in fields where !name.isEmpty {
            let nestedProperties = Self.resolve(try #require(schema["properties"]?[name]))["properties"]?.map ?? []
            #expect(Set(nestedProperties.map { $0.0 }) == nested, "\(operation) \(name)")
        }

        // A sample with every documented field decodes; leaving one out fails exactly when the
        // document says it is required.
        let sample = try #require(Self.sample(schema) as? [String: Any])
        #expect(Self.decodingError(type, sample) == nil, "\(operation)")
        let required = Set(schema["required"]?.list?.compactMap(\.scalar) ?? [])
        for (name, _) in properties {
            var without = sample
            without[name] = nil
            let refused = Self.decodingError(type, without) != nil
            let expected = required.contains(name) && !Self.optionalOnPurpose.contains("\(operation) \(name)")
            #expect(refused == expected, "\(operation): without \(name)")
        }
    }

    /// Every documented `maxLength` is the one the API holds to: a string that long is taken,
    /// one character longer is refused, naming the field.
    @Test(arguments: requests.indices)
    func documentedLengthLimitsAreTheEnforcedOnes(index: Int) throws {
        let (operation, type, _) = Self.requests[index]
        let schema = try #require(Self.requestSchema(operation).map(Self.resolve), "\(operation)")
        let sample = try #require(Self.sample(schema) as? [String: Any])
        var limits: [(path: [String], maxLength: Int)] = []
        for (name, property) in schema["properties"]?.map ?? [] {
            let field = Self.resolve(property)
            if let limit = field["maxLength"]?.scalar.flatMap({ Int($0) }) { limits.append(([name], limit)) }
            for (nested, nestedProperty) in field["properties"]?.map ?? [] {
                if let limit = Self.resolve(nestedProperty)["maxLength"]?.scalar.flatMap({ Int($0) }) { limits.append(([name, nested], limit)) }
            }
        }
        for (path, maxLength) in limits {
            for length in [maxLength, maxLength + 1] {
                var body = sample
                let text = String(repeating: "a", count: length)
                if path.count == 1 {
                    body[path[0]] = text
                } else {
                    var nested = body[path[0]] as? [String: Any] ?? [:]
                    nested[path[1]] = text
                    body[path[0]] = nested
                }
                let refusal = Self.decodingError(type, body) as? APIError
                let named = refusal?.extra["field"] == .string(path[path.count - 1])
                #expect(named == (length > maxLength), "\(operation) \(path.joined(separator: ".")): \(length) characters")
            }
        }
        #expect(!limits.isEmpty || operation.hasSuffix("/enable"), "\(operation): no documented limit")
    }

    // MARK: Answers

    /// A sample of each JSON answer, by "METHOD /path status"; optional values both set and absent.
    static func answers() -> [String: [any Encodable & Sendable]] {
        let now = Date(timeIntervalSince1970: 1_764_652_569)
        let id = ObjectID(UUID())
        let session = SessionEnvelope(session: SessionAnswer(token: "t", expiresAt: Timestamp(now), client: "dashboard"))
        func code(delivery: String) -> CodeView {
            CodeView(codeExpiresAt: Timestamp(now), resendsRemaining: 3, attemptsRemaining: 5, emailHint: "j***@acme.test", delivery: delivery)
        }
        let challenge: [any Encodable & Sendable] = [
            ChallengeEnvelope(challenge: ChallengeView(token: "t", code: code(delivery: "queued"), methods: ["email"], rememberDays: nil)),
            ChallengeEnvelope(challenge: ChallengeView(token: "t", code: code(delivery: "not_sent"), methods: ["totp", "email"], rememberDays: 14)),
        ]
        let verified: [any Encodable & Sendable] = [
            session,
            SessionEnvelope(
                session: SessionAnswer(token: "t", expiresAt: Timestamp(now), client: "dashboard"),
                rememberedBrowser: RememberedBrowserAnswer(RememberedBrowserGrant(id: UUID(), token: "b", expiresAt: now))
            ),
        ]
        let policy = PolicyEnvelope(
            SignInPolicyStatus(policy: SignInPolicy(methods: .any, ask: .perBrowser, rememberDays: 14), usersWithoutPasskey: 3)
        )
        let activation = ActivationEnvelope(activation: ActivationView(id: id, status: "code_sent", code: code(delivery: "sent")))
        let twoFactor: [any Encodable & Sendable] = [
            TwoFactorEnvelope(twoFactor: TwoFactorView(enabled: true, enabledAt: Timestamp(now), enabledBy: id, dashboardUsers: 3)),
            TwoFactorEnvelope(twoFactor: TwoFactorView(enabled: false, enabledAt: nil, enabledBy: nil, dashboardUsers: 3)),
        ]
        let company = AdminCompanyView(id: id, name: "Acme", dashboardURL: nil, twoFactorEnabled: false, createdAt: Timestamp(now))
        let user = AdminUserView(
            id: id,
            companyID: id,
            email: "a@acme.test",
            name: "A",
            role: "owner",
            dashboardAccess: true,
            active: true,
            locked: false,
            createdAt: Timestamp(now),
            methods: ["email", "totp"]
        )
        let events: [any Encodable & Sendable] = [
            EventPage(
                events: [
                    EventAnswer(
                        id: 7,
                        type: "login.code_sent",
                        userID: id,
                        email: "a@acme.test",
                        ip: "192.0.2.1",
                        userAgent: "test",
                        createdAt: Timestamp(now),
                        detail: ["attempts": .int(2), "client": .string("dashboard"), "ok": .bool(true)]
                    ),
                    EventAnswer(
                        id: 6,
                        type: "email.failed",
                        userID: nil,
                        email: nil,
                        ip: nil,
                        userAgent: nil,
                        createdAt: Timestamp(now),
                        detail: [:]
                    ),
                ],
                nextBefore: 6
            ),
            EventPage(events: [], nextBefore: nil),
        ]
        let me = MeAnswer(
            user: .init(id: id, email: "a@acme.test", name: "A", role: "owner", dashboardAccess: true),
            company: .init(id: id, name: "Acme", twoFactorEnabled: true),
            session: .init(client: "dashboard", expiresAt: Timestamp(now), twoFactorVerified: true),
            enrollmentOnly: false
        )
        let requestOptions: [any Encodable & Sendable] = [
            RequestOptionsEnvelope(
                options: RequestOptionsView(
                    PasskeyRequestOptions(
                        challenge: Array(repeating: 7, count: 32),
                        rpID: "acme.test",
                        credentialIDs: [[1, 2, 3]],
                        transports: [["usb", "nfc"]]
                    )
                )
            ),
            RequestOptionsEnvelope(
                options: RequestOptionsView(
                    PasskeyRequestOptions(challenge: Array(repeating: 7, count: 32), rpID: "acme.test", credentialIDs: [], transports: [])
                )
            ),
        ]
        let creationOptions: [any Encodable & Sendable] = [
            CreationOptionsEnvelope(
                options: CreationOptionsView(
                    PasskeyCreationOptions(
                        challenge: Array(repeating: 7, count: 32),
                        rpID: "acme.test",
                        rpName: "Acme",
                        userHandle: Array(repeating: 1, count: 16),
                        userName: "a@acme.test",
                        excludeCredentialIDs: [[1, 2, 3]]
                    )
                )
            )
        ]
        let member = TeamMemberView(
            TeamMember(id: UUID(), email: "a@acme.test", name: "A", role: .member, dashboardAccess: true, methods: [.email, .passkey])
        )
        return [
            "POST /v1/auth/login 200": [session],
            "POST /v1/auth/login 202": challenge,
            "POST /v1/auth/login/verify 200": verified,
            "POST /v1/auth/login/challenge 200": challenge,
            "POST /v1/auth/login/resend 202": challenge,
            "POST /v1/auth/login/email 202": challenge,
            "POST /v1/auth/login/passkey/options 200": requestOptions,
            "POST /v1/auth/login/passkey/verify 200": verified,
            "POST /v1/me/methods/passkeys/options 200": creationOptions,
            "POST /v1/me/methods/passkeys 201": [
                MethodEnvelope(method: MethodView(id: "\(UUID())", kind: "passkey", name: "Laptop", createdAt: Timestamp(now), lastUsedAt: nil))
            ],
            "GET /v1/company/users 200": [TeamEnvelope(users: [member]), TeamEnvelope(users: [])],
            "POST /v1/company/users/{id}/reset-methods 200": [TeamMemberEnvelope(user: member)],
            "GET /v1/company/security/policy 200": [policy],
            "PATCH /v1/company/security/policy 200": [policy],
            "POST /v1/auth/password/forgot 202": [EmptyAnswer()],
            "GET /v1/me 200": [me],
            "GET /v1/company/security 200": twoFactor,
            "POST /v1/company/security/two-factor/activation 202": [activation],
            "GET /v1/company/security/two-factor/activation/{id} 200": [activation],
            "POST /v1/company/security/two-factor/activation/{id}/resend 202": [activation],
            "POST /v1/company/security/two-factor/activation/{id}/verify 200": [activation],
            "POST /v1/company/security/two-factor/enable 200": twoFactor,
            "POST /v1/company/security/two-factor/disable 200": twoFactor,
            "GET /v1/company/security/events 200": events,
            "POST /v1/admin/companies 201": [
                CreatedCompanyAnswer(company: company, owner: user),
                CreatedCompanyAnswer(
                    company: AdminCompanyView(
                        id: id,
                        name: "Acme",
                        dashboardURL: "https://dash.acme.test",
                        twoFactorEnabled: true,
                        createdAt: Timestamp(now)
                    ),
                    owner: user
                ),
            ],
            "GET /v1/admin/companies/{id} 200": [AdminCompanyEnvelope(company: company)],
            "PATCH /v1/admin/companies/{id} 200": [AdminCompanyEnvelope(company: company)],
            "GET /v1/admin/companies/{id}/users 200": [AdminUserPage(users: [user], nextAfter: id), AdminUserPage(users: [], nextAfter: nil)],
            "POST /v1/admin/companies/{id}/users 201": [AdminUserEnvelope(user: user)],
            "GET /v1/admin/users/{id} 200": [AdminUserEnvelope(user: user)],
            "PATCH /v1/admin/users/{id} 200": [AdminUserEnvelope(user: user)],
            "POST /v1/admin/users/{id}/deactivate 200": [AdminUserEnvelope(user: user)],
            "POST /v1/admin/users/{id}/reactivate 200": [AdminUserEnvelope(user: user)],
            "POST /v1/admin/users/{id}/unlock 200": [AdminUserEnvelope(user: user)],
            "POST /v1/admin/users/{id}/password-reset 202": [EmptyAnswer()],
            "POST /v1/admin/companies/{id}/users/{user_id}/reset-methods 200": [AdminUserEnvelope(user: user)],
            "GET /v1/me/methods 200": [
                MethodsEnvelope(methods: [
                    MethodView(id: "email", kind: "email", name: "Email", createdAt: Timestamp(now), lastUsedAt: nil),
                    MethodView(id: "\(UUID())", kind: "totp", name: "Phone", createdAt: Timestamp(now), lastUsedAt: Timestamp(now)),
                ])
            ],
            "POST /v1/me/methods/totp 201": [
                EnrollmentEnvelope(enrollment: EnrollmentView(id: id, secret: "JBSWY3DP", otpauthURI: "otpauth://totp/x", qrSVG: "<svg/>"))
            ],
            "POST /v1/me/methods/totp/{id}/confirm 200": [
                MethodEnvelope(method: MethodView(id: "\(UUID())", kind: "totp", name: "Phone", createdAt: Timestamp(now), lastUsedAt: nil))
            ],
            "GET /v1/me/sessions 200": [
                SessionListAnswer(
                    sessions: [
                        .init(
                            id: id,
                            client: "dashboard",
                            browser: "Firefox 128 on Linux",
                            ip: "192.0.2.1",
                            createdAt: Timestamp(now),
                            lastUsedAt: Timestamp(now),
                            twoFactorVerified: true,
                            current: true
                        ),
                        .init(
                            id: id,
                            client: "phone_app",
                            browser: "unknown browser",
                            ip: nil,
                            createdAt: Timestamp(now),
                            lastUsedAt: Timestamp(now),
                            twoFactorVerified: false,
                            current: false
                        ),
                    ],
                    rememberedBrowsers: [
                        .init(id: id, browser: "Safari 17 on macOS", createdAt: Timestamp(now), lastUsedAt: nil, expiresAt: Timestamp(now)),
                        .init(
                            id: id,
                            browser: "Safari 17 on macOS",
                            createdAt: Timestamp(now),
                            lastUsedAt: Timestamp(now),
                            expiresAt: Timestamp(now)
                        ),
                    ]
                ),
                SessionListAnswer(sessions: [], rememberedBrowsers: []),
            ],
            "POST /v1/me/sessions/end-others 200": [EndedSessionsAnswer(ended: 2)],
            "POST /v1/company/security/end-all-sessions 200": [EndedAllSessionsAnswer(sessionsEnded: 5, browsersForgotten: 1)],
        ]
    }

    /// The health checks answer constant bodies, not a type.
    static let untypedAnswers: Set<String> = ["GET /health/live 200", "GET /health/ready 200"]

    @Test func everyDocumentedJSONAnswerHasASample() {
        var documented: Set<String> = []
        for operation in Self.operations() {
            for (status, response) in Self.operation(operation)?["responses"]?.map ?? [] where status.hasPrefix("2") {
                if Self.resolve(response)["content"]?["application/json"] != nil { documented.insert("\(operation) \(status)") }
            }
        }
        #expect(documented.subtracting(Self.untypedAnswers) == Set(Self.answers().keys))
        #expect(documented.count >= 25)
    }

    @Test func everyAnswerEncodesExactlyItsDocumentedFields() throws {
        for (key, samples) in Self.answers() {
            let parts = key.split(separator: " ")
            let operation = parts.dropLast().joined(separator: " ")
            let response = try #require(Self.operation(operation)?["responses"]?[String(parts.last!)], "\(key)")
            let schema = try #require(Self.resolve(response)["content"]?["application/json"]?["schema"], "\(key)")
            for sample in samples {
                let data = try Answer(.ok, sample).encoded()
                let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
                Self.check(value, against: schema, at: key)
            }
        }
    }

    /// Every object's keys are its schema's `properties` and include its `required`; a null
    /// is allowed by the schema's `type`; arrays hold their `items`.
    static func check(_ value: Any, against node: YAMLNode, at path: String) {
        let schema = resolve(node)
        if let object = value as? [String: Any] {
            if let properties = schema["properties"]?.map {
                #expect(Set(object.keys) == Set(properties.map { $0.0 }), "\(path): encoded \(object.keys.sorted())")
                for (name, property) in properties {
                    if let field = object[name] { check(field, against: property, at: "\(path).\(name)") }
                }
            } else if schema["additionalProperties"] == nil {
                #expect(object.isEmpty, "\(path): an object the document gives no fields")
            }
            let required = Set(schema["required"]?.list?.compactMap(\.scalar) ?? [])
            #expect(required.isSubset(of: object.keys), "\(path): missing \(required.subtracting(object.keys).sorted())")
        } else if let array = value as? [Any] {
            let items = schema["items"]
            #expect(items != nil, "\(path): an array the document does not show")
            if let items { for element in array { check(element, against: items, at: "\(path)[]") } }
        } else if value is NSNull {
            let types = schema["type"]?.list?.compactMap(\.scalar) ?? [schema["type"]?.scalar].compactMap { $0 }
            #expect(types.contains("null"), "\(path): null where the document does not allow it")
        }
    }

    // MARK: Reading the document

    static func names<Key: CodingKey & CaseIterable>(_: Key.Type) -> Set<String> { Set(Key.allCases.map(\.stringValue)) }

    /// "METHOD /path" of every operation.
    static func operations() -> [String] {
        (document["paths"]?.map ?? []).flatMap { path, item in
            (item.map ?? []).filter { ["get", "post", "put", "patch", "delete"].contains($0.0) }.map { "\($0.0.uppercased()) \(path)" }
        }
    }

    static func operation(_ operation: String) -> YAMLNode? {
        let parts = operation.split(separator: " ", maxSplits: 1).map(String.init)
        return document["paths"]?[parts[1]]?[parts[0].lowercased()]
    }

    static func requestSchema(_ operation: String) -> YAMLNode? {
        Self.operation(operation)?["requestBody"]?["content"]?["application/json"]?["schema"]
    }

    /// Follows `$ref`s into the document.
    static func resolve(_ node: YAMLNode) -> YAMLNode {
        guard let reference = node["$ref"]?.scalar, reference.hasPrefix("#/") else { return node }
        var target: YAMLNode? = document
        for part in reference.dropFirst(2).split(separator: "/") { target = target?[String(part)] }
        return target.map(resolve) ?? node
    }

    /// A value for a schema with every property present.
    static func sample(_ node: YAMLNode) -> Any {
        let schema = resolve(node)
        if let properties = schema["properties"]?.map {
            var object: [String: Any] = [:]
            for (name, property) in properties { object[name] = sample(property) }
            return object
        }
        if let first = schema["enum"]?.list?.first?.scalar { return first }
        if schema["const"]?.scalar == "true" { return true }
        let types = schema["type"]?.list?.compactMap(\.scalar) ?? [schema["type"]?.scalar].compactMap { $0 }
        if types.contains("boolean") { return true }
        if types.contains("integer") { return 1 }
        if types.contains("array") { return [schema["items"].map(sample) ?? "x"] }
        return "x"
    }

    static func decodingError(_ type: any RequestBody.Type, _ object: [String: Any]) -> (any Error)? {
        func attempt<Body: RequestBody>(_: Body.Type) -> (any Error)? {
            do {
                _ = try JSONDecoder().decode(Body.self, from: try JSONSerialization.data(withJSONObject: object))
                return nil
            } catch {
                return error
            }
        }
        return attempt(type)
    }
}

/// A YAML value as our OpenAPI document writes them: block maps and lists by indentation,
/// one-line flow maps and lists, plain and quoted scalars, and `|` blocks (kept as scalars).
/// Not a general YAML reader: anchors, multi-line flow values and the like are not used there.
indirect enum YAMLNode {
    case map([(String, YAMLNode)])
    case list([YAMLNode])
    case scalar(String)

    var map: [(String, YAMLNode)]? { if case .map(let entries) = self { entries } else { nil } }
    var list: [YAMLNode]? { if case .list(let items) = self { items } else { nil } }
    var scalar: String? { if case .scalar(let text) = self { text } else { nil } }
    subscript(key: String) -> YAMLNode? { map?.first { $0.0 == key }?.1 }

    static func parse(_ text: String) -> YAMLNode {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter {
            let trimmed = $0.trimmingCharacters(in: .whitespaces)
            return !trimmed.isEmpty && !trimmed.hasPrefix("#")
        }
        var reader = BlockReader(lines: lines)
        return reader.block(indent: 0)
    }

    private struct BlockReader {
        var lines: [String]
        var index = 0

        static func indent(_ line: String) -> Int { line.prefix { $0 == " " }.count }

        mutating func block(indent: Int) -> YAMLNode {
            guard index < lines.count else { return .scalar("") }
            let body = lines[index].dropFirst(indent)
            return body.hasPrefix("- ") || body == "-" ? list(indent: indent) : map(indent: indent)
        }

        mutating func list(indent: Int) -> YAMLNode {
            var items: [YAMLNode] = []
            while index < lines.count, Self.indent(lines[index]) == indent, lines[index].dropFirst(indent).hasPrefix("- ") {
                let item = String(lines[index].dropFirst(indent + 2))
                if item.hasPrefix("{") || item.hasPrefix("[") || item.hasPrefix("\"") || YAMLNode.keyAndRest(item) == nil {
                    items.append(YAMLNode.scalarOrFlow(item))
                    index += 1
                } else {
                    // A map whose first key shares the dash's line: read it as if indented.
                    lines[index] = String(repeating: " ", count: indent + 2) + item
                    items.append(map(indent: indent + 2))
                }
            }
            return .list(items)
        }

        mutating func map(indent: Int) -> YAMLNode {
            var entries: [(String, YAMLNode)] = []
            while index < lines.count, Self.indent(lines[index]) == indent, !lines[index].dropFirst(indent).hasPrefix("- ") {
                guard let (key, rest) = YAMLNode.keyAndRest(String(lines[index].dropFirst(indent))) else {
                    index += 1
                    continue
                }
                index += 1
                if rest.isEmpty {
                    if index < lines.count,
                        Self.indent(lines[index]) > indent
                            || (Self.indent(lines[index]) == indent && lines[index].dropFirst(indent).hasPrefix("- "))
                    {
                        entries.append((key, block(indent: Self.indent(lines[index]))))
                    } else {
                        entries.append((key, .scalar("")))
                    }
                } else {
                    entries.append((key, YAMLNode.scalarOrFlow(rest)))
                    // A `|` block or a plain scalar continued on the next lines.
                    while index < lines.count, Self.indent(lines[index]) > indent { index += 1 }
                }
            }
            return .map(entries)
        }
    }

    /// `key: rest` (rest may be empty); nil when the line is not a key.
    static func keyAndRest(_ line: String) -> (String, String)? {
        var text = Substring(line)
        var key: String
        if text.hasPrefix("\"") {
            guard let close = text.dropFirst().firstIndex(of: "\"") else { return nil }
            key = String(text[text.index(after: text.startIndex)..<close])
            text = text[text.index(after: close)...]
            guard text.hasPrefix(":") else { return nil }
            text = text.dropFirst()
        } else {
            guard
                let colon = text.indices.first(where: {
                    text[$0] == ":" && (text.index(after: $0) == text.endIndex || text[text.index(after: $0)] == " ")
                })
            else { return nil }
            key = String(text[..<colon])
            text = text[text.index(after: colon)...]
        }
        return (key, text.trimmingCharacters(in: .whitespaces))
    }

    static func scalarOrFlow(_ text: String) -> YAMLNode {
        guard let first = text.first, "{[\"'".contains(first) else { return .scalar(text) }
        var flow = FlowReader(text: Array(text))
        return flow.value()
    }

    /// `{a: b, c: [d, "e"]}` on one line.
    private struct FlowReader {
        let text: [Character]
        var index = 0

        mutating func skipSpaces() { while index < text.count, text[index] == " " { index += 1 } }

        mutating func value() -> YAMLNode {
            skipSpaces()
            guard index < text.count else { return .scalar("") }
            switch text[index] {
            case "{":
                index += 1
                var entries: [(String, YAMLNode)] = []
                while true {
                    skipSpaces()
                    if index >= text.count || text[index] == "}" { break }
                    guard case .scalar(let key) = scalar(stoppingAt: [":"]) else { break }
                    index += 1  // ":"
                    entries.append((key, value()))
                    skipSpaces()
                    if index < text.count, text[index] == "," { index += 1 }
                }
                index += 1
                return .map(entries)
            case "[":
                index += 1
                var items: [YAMLNode] = []
                while true {
                    skipSpaces()
                    if index >= text.count || text[index] == "]" { break }
                    items.append(value())
                    skipSpaces()
                    if index < text.count, text[index] == "," { index += 1 }
                }
                index += 1
                return .list(items)
            default:
                return scalar(stoppingAt: [",", "}", "]"])
            }
        }

        mutating func scalar(stoppingAt stops: Set<Character>) -> YAMLNode {
            skipSpaces()
            if index < text.count, text[index] == "\"" || text[index] == "'" {
                let quote = text[index]
                index += 1
                var result = ""
                while index < text.count, text[index] != quote {
                    if text[index] == "\\", index + 1 < text.count { index += 1 }
                    result.append(text[index])
                    index += 1
                }
                index += 1
                return .scalar(result)
            }
            let start = index
            while index < text.count, !stops.contains(text[index]) { index += 1 }
            return .scalar(String(text[start..<index]).trimmingCharacters(in: .whitespaces))
        }
    }
}
