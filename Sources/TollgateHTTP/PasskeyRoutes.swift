import Foundation
import Hummingbird
import TollgateCore

/// The two WebAuthn ceremonies (SPEC §13.1): adding a passkey with a dashboard session, and the
/// passkey step of a login. Options go out in the Level 3 JSON forms (base64url binary fields)
/// that `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON` read,
/// and the browser's `toJSON()` answers come back.
struct PasskeyRoutes {
    let methods: MethodService
    let challenges: ChallengeService
    let clientAddress: ClientAddress

    func register(public group: RouterGroup<TollgateRequestContext>, dashboard: RouterGroup<DashboardContext>) {
        let (methods, challenges, addresses) = (self.methods, self.challenges, self.clientAddress)
        dashboard.post("me/methods/passkeys/options") { request, context -> Answer in
            let body = try await OptionalBody.read(PasswordConfirmation.self, request)
            let options = try await methods.passkeyOptions(context.principal, password: body?.password?.text)
            return Answer(.ok, CreationOptionsEnvelope(options: CreationOptionsView(options)))
        }
        dashboard.post("me/methods/passkeys") { request, context -> Answer in
            let body = try await JSONBody.read(RegisterPasskeyRequest.self, request)
            let info = addresses.clientInfo(for: request, context: context.parent)
            return try await counting(step: "passkey_register") {
                let method = try await methods.registerPasskey(context.principal, name: body.name.text, credential: body.credential, clientInfo: info)
                return Answer(.created, MethodEnvelope(method: MethodView(method)))
            }
        }
        group.post("auth/login/passkey/options") { request, _ -> Answer in
            let body = try await JSONBody.read(ChallengeTokenRequest.self, request)
            let options = try await challenges.passkeyOptions(token: body.challengeToken.text)
            return Answer(.ok, RequestOptionsEnvelope(options: RequestOptionsView(options)))
        }
        group.post("auth/login/passkey/verify") { request, context -> Answer in
            let body = try await JSONBody.read(PasskeyLoginRequest.self, request)
            let info = addresses.clientInfo(for: request, context: context)
            return try await counting(step: "login_passkey") {
                let success = try await challenges.verifyPasskeyLogin(
                    token: body.challengeToken.text,
                    credential: body.credential,
                    rememberBrowser: body.rememberBrowser ?? false,
                    clientInfo: info
                )
                return Answer(
                    .ok,
                    SessionEnvelope(
                        session: SessionAnswer(success.grant),
                        rememberedBrowser: success.rememberedBrowser.map(RememberedBrowserAnswer.init)
                    )
                )
            }
        }
    }
}

/// A body that may be left out: no `Content-Type` and nothing sent reads as none; anything
/// else is read as a JSON body (a DELETE, or options that need no password).
enum OptionalBody {
    static func read<Body: RequestBody>(_ type: Body.Type, _ request: Request) async throws -> Body? {
        guard request.headers[.contentType] == nil else { return try await JSONBody.read(type, request) }
        var request = request
        let sent = try await request.collectBody(upTo: JSONBody.maximumSize)
        guard sent.readableBytes == 0 else { throw APIError.unsupportedMediaType }
        return nil
    }
}

// MARK: - Requests

/// `POST /v1/me/methods/passkeys`: the credential is the browser's `RegistrationResponseJSON`.
struct RegisterPasskeyRequest: RequestBody {
    let name: BoundedText<MaxLength.MethodName>
    let credential: RegistrationResponseJSON

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, credential
    }
}

/// `POST /v1/auth/login/passkey/verify`.
struct PasskeyLoginRequest: RequestBody {
    let challengeToken: BoundedText<MaxLength.Token>
    let credential: AuthenticationResponseJSON
    let rememberBrowser: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case challengeToken = "challenge_token"
        case credential
        case rememberBrowser = "remember_browser"
    }
}

// MARK: - Answers

/// `{"type": "public-key", "id"}`, with the transports the browser reported when known.
struct CredentialDescriptorView: Encodable, Sendable {
    let type = "public-key"
    let id: String
    var transports: [String]? = nil

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, id, transports
    }
}

/// `PublicKeyCredentialCreationOptionsJSON` (WebAuthn Level 3 §5.1.5.1).
struct CreationOptionsView: Encodable, Sendable {
    struct RelyingPartyView: Encodable, Sendable {
        let id: String
        let name: String
    }
    struct UserView: Encodable, Sendable {
        let id: String
        let name: String
        let displayName: String
    }
    struct Parameter: Encodable, Sendable {
        let type = "public-key"
        let alg: Int
    }
    struct Selection: Encodable, Sendable {
        let residentKey = "preferred"
        let userVerification = "preferred"
    }

    let rp: RelyingPartyView
    let user: UserView
    let challenge: String
    let pubKeyCredParams: [Parameter]
    let timeout: Int
    let excludeCredentials: [CredentialDescriptorView]
    let authenticatorSelection = Selection()
    /// Only `none` (and packed self-attestation) is accepted: no attestation is asked for.
    let attestation = "none"

    init(_ options: PasskeyCreationOptions) {
        rp = RelyingPartyView(id: options.rpID, name: options.rpName)
        user = UserView(id: Base64URL.encode(options.userHandle), name: options.userName, displayName: options.userName)
        challenge = Base64URL.encode(options.challenge)
        pubKeyCredParams = PasskeyCreationOptions.algorithms.map { Parameter(alg: $0.rawValue) }
        timeout = PasskeyCreationOptions.timeout
        excludeCredentials = options.excludeCredentialIDs.map { CredentialDescriptorView(id: Base64URL.encode($0)) }
    }
}

/// `PublicKeyCredentialRequestOptionsJSON` (WebAuthn Level 3 §5.1.5.2).
struct RequestOptionsView: Encodable, Sendable {
    let challenge: String
    let timeout: Int
    let rpId: String
    let allowCredentials: [CredentialDescriptorView]
    let userVerification = "preferred"

    init(_ options: PasskeyRequestOptions) {
        challenge = Base64URL.encode(options.challenge)
        timeout = PasskeyRequestOptions.timeout
        rpId = options.rpID
        allowCredentials = zip(options.credentialIDs, options.transports).map { id, transports in
            CredentialDescriptorView(id: Base64URL.encode(id), transports: transports.isEmpty ? nil : transports)
        }
    }
}

struct CreationOptionsEnvelope: Encodable, Sendable {
    let options: CreationOptionsView
}

struct RequestOptionsEnvelope: Encodable, Sendable {
    let options: RequestOptionsView
}
