import Foundation
import Testing

@testable import TollgateHTTP

/// How a typed request body refuses what it cannot use (SPEC §4 `invalid_request` naming the
/// field): the field and message a client sees, without a server.
@Suite struct RequestDecodingTests {
    static func refusal<Body: RequestBody>(_ type: Body.Type, _ json: String) -> (field: String?, message: String)? {
        refusal(type, Data(json.utf8))
    }

    static func refusal<Body: RequestBody>(_ type: Body.Type, _ data: Data) -> (field: String?, message: String)? {
        do {
            _ = try JSONBody.decode(type, from: data)
            return nil
        } catch let error as APIError {
            guard case .string(let field) = error.extra["field"] else { return (nil, error.message) }
            return (error.code == "invalid_request" ? field : nil, error.message)
        } catch {
            return (nil, "\(error)")
        }
    }

    @Test(arguments: [
        (#"{"password":"x","client":"dashboard"}"#, "email", "The field email is required."),
        (#"{"email":null,"password":"x","client":"dashboard"}"#, "email", "The field email is required."),
        (#"{"email":42,"password":"x","client":"dashboard"}"#, "email", "The field email must be a string, not a number."),
        (#"{"email":1e400,"password":"x","client":"dashboard"}"#, "email", "The field email must be a string, not a number."),
        (#"{"email":"a","password":["x"],"client":"dashboard"}"#, "password", "The field password must be a string, not an array."),
        (#"{"email":"a","password":{"x":1},"client":"dashboard"}"#, "password", "The field password must be a string, not an object."),
        (#"{"email":"a","password":true,"client":"dashboard"}"#, "password", "The field password must be a string, not a boolean."),
        (#"{"email":"a","password":"x","client":"tablet"}"#, "client", #"The field client must be "dashboard" or "phone_app"."#),
        (#"{"email":"a","password":"x","client":"dashboard","extra":{"a":[1,null]}}"#, nil, ""),
        // An unknown field is ignored, even a number no Swift type holds.
        (#"{"email":"a","password":"x","client":"dashboard","n":1e400}"#, nil, ""),
        (#"["email"]"#, "body", "The body must be a JSON object."),
        (#""email""#, "body", "The body must be a JSON object."),
        (#"null"#, "body", "The body must be a JSON object."),
        (#"{"email":"#, "body", "The body is not valid JSON."),
        ("", "body", "The body is not valid JSON."),
    ])
    func loginBodies(json: String, field: String?, message: String) {
        let refusal = Self.refusal(LoginRequest.self, json)
        #expect(refusal?.field == field, "\(json)")
        if field != nil { #expect(refusal?.message == message, "\(json)") }
    }

    @Test func tooLongFieldsAreNamed() {
        let long = String(repeating: "a", count: 321)
        let refusal = Self.refusal(LoginRequest.self, #"{"email":"\#(long)","password":"x","client":"dashboard"}"#)
        #expect(refusal?.field == "email" && refusal?.message == "The field email is too long.")
        // The first faulty field is named, whatever its fault and the later ones'.
        #expect(Self.refusal(LoginRequest.self, #"{"email":"\#(long)","password":5,"client":"tablet"}"#)?.field == "email")
        #expect(Self.refusal(LoginRequest.self, #"{"email":"a","password":"\#(long + long + long + long)","client":5}"#)?.field == "password")
        // Missing counts the same: the earlier field's length is told first.
        #expect(Self.refusal(LoginRequest.self, #"{"email":"\#(long)","client":"dashboard"}"#)?.message == "The field email is too long.")
        // A company's owner is declared, so checked, before its name.
        #expect(
            Self.refusal(CreateCompanyRequest.self, #"{"name":"\#(long)","owner":{"email":"\#(long)"}}"#)?.message == "The field email is too long."
        )
    }

    @Test func nonUTF8IsNotJSON() {
        let bytes = Data(#"{"email":""#.utf8) + Data([0xFF, 0xFE, 0xC3, 0x28]) + Data(#"","password":"x","client":"dashboard"}"#.utf8)
        #expect(Self.refusal(LoginRequest.self, bytes)?.field == "body")
    }

    @Test func booleansAndNestedObjects() {
        #expect(
            Self.refusal(DisableTwoFactorRequest.self, #"{"confirm":"yes"}"#)?.message == "The field confirm must be true or false, not a string."
        )
        #expect(Self.refusal(DisableTwoFactorRequest.self, #"{"confirm":1}"#)?.message == "The field confirm must be true or false, not a number.")
        #expect(Self.refusal(DisableTwoFactorRequest.self, #"{}"#) == nil)
        #expect(Self.refusal(CreateCompanyRequest.self, #"{"name":"Acme"}"#)?.message == "The field owner is required.")
        #expect(
            Self.refusal(CreateCompanyRequest.self, #"{"name":"Acme","owner":"x"}"#)?.message == "The field owner must be an object, not a string."
        )
        // A nested object's field is named alone, as the API always has.
        #expect(Self.refusal(CreateCompanyRequest.self, #"{"name":"Acme","owner":{"name":"O"}}"#)?.field == "email")
        #expect(
            Self.refusal(CreateCompanyRequest.self, #"{"name":"Acme","owner":{"email":5}}"#)?.message
                == "The field email must be a string, not a number."
        )
    }

    @Test func patchTellsNullFromMissing() throws {
        func dashboardURL(_ json: String) throws -> String?? {
            try JSONBody.decode(UpdateCompanyRequest.self, from: Data(json.utf8)).dashboardURL.map { $0?.text }
        }
        #expect(try dashboardURL(#"{"name":"A"}"#) == nil)
        #expect(try dashboardURL(#"{"dashboard_url":null}"#) == .some(nil))
        #expect(try dashboardURL(#"{"dashboard_url":"https://a.test"}"#) == "https://a.test")
        #expect(Self.refusal(UpdateUserRequest.self, #"{"role":"king"}"#)?.field == "role")
    }

    /// Each field's own limits, named and told, for the fields that have them.
    @Test func fieldLimitsAreNamed() {
        let long = String(repeating: "a", count: 1025)
        #expect(
            Self.refusal(ResetPasswordRequest.self, #"{"token":"t","new_password":"\#(long)"}"#)?.message == "The field new_password is too long."
        )
        #expect(
            Self.refusal(CreateUserRequest.self, #"{"role":"emperor-of-the-whole-land","email":"a@b.test"}"#)?.message
                == "The field role is too long."
        )
        #expect(
            Self.refusal(CreateUserRequest.self, #"{"role":"king","email":"a@b.test"}"#)?.message == "The field role must be owner, admin or member."
        )
        #expect(
            Self.refusal(CreateCompanyRequest.self, #"{"name":"A","owner":{"email":"a@b.test","name":"\#(long)"}}"#)?.message
                == "The field name is too long."
        )
        #expect(Self.refusal(CreateUserRequest.self, #"{"role":"admin","email":"a@b.test","dashboard_access":true}"#) == nil)
    }
}
