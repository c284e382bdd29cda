import ArgumentParser
import Foundation
import Logging
import PQ
import TollgateCore

/// Shared by the provisioning commands: a small pool and the password hasher.
struct ProvisioningEnvironment {
    let pool: PQPool
    let provisioning: Provisioning

    init() throws {
        let configuration = try loadConfiguration(requireSecret: false)
        let logger = Logger(label: "tollgate.provisioning")
        pool = makePool(configuration.database, size: 1, logger: logger)
        provisioning = Provisioning(pool: pool, hasher: PasswordHasher(concurrency: 1))
    }

    /// Runs `body`, closes the pool, and turns refusals into one clear line and a non-zero exit.
    func run(_ body: (Provisioning) async throws -> Void) async throws {
        do {
            try await body(provisioning)
            await pool.close()
        } catch let error as DomainError {
            await pool.close()
            throw fail(error.message)
        } catch {
            await pool.close()
            throw fail("\(error)")
        }
    }
}

extension ProvisioningEnvironment {
    /// Runs a change of one named thing (`body` is false when there is none): prints
    /// `{"<done>": true}` or `sentence`, or fails with `notFound`.
    func change(_ done: String, json: Bool, sentence: String, notFound: String, _ body: (Provisioning) async throws -> Bool) async throws {
        try await run { provisioning in
            guard try await body(provisioning) else { throw DomainError(.notFound, notFound) }
            printCreated([done: true], json: json, sentence: sentence)
        }
    }
}

/// Prints the created ids as one JSON object, or as a sentence.
func printCreated<Value: Encodable>(_ ids: [String: Value], json: Bool, sentence: String) {
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: (try? encoder.encode(ids)) ?? Data("{}".utf8), as: UTF8.self))
    } else {
        print(sentence)
    }
}

struct CompanyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "company", abstract: "Manage companies.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a company with its first owner.")

        @Option(help: "The company's name.") var name: String
        @Option(help: "The owner's email address.") var ownerEmail: String
        @Option(help: "The owner's password (8 to 128 characters).") var ownerPassword: String
        @Option(help: "The owner's display name.") var ownerName: String?
        @Flag(help: "Print one JSON object with the created ids.") var json = false

        func run() async throws {
            try await ProvisioningEnvironment().run { provisioning in
                let (companyID, ownerID) = try await provisioning.createCompany(
                    name: name,
                    ownerEmail: ownerEmail,
                    ownerPassword: ownerPassword,
                    ownerName: ownerName
                )
                printCreated(
                    ["company_id": companyID.lowercasedString, "owner_id": ownerID.lowercasedString],
                    json: json,
                    sentence: "Created company \(companyID.lowercasedString) with owner \(ownerID.lowercasedString)."
                )
            }
        }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage users.", subcommands: [Add.self, Unlock.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user to a company.")

        @Option(help: "The company's id.") var companyId: String
        @Option(help: "The user's email address.") var email: String
        @Option(help: "The user's password (8 to 128 characters).") var password: String
        @Option(help: "owner, admin or member.") var role: String
        @Flag(help: "Let a member use the dashboard (owners and admins always can).") var dashboardAccess = false
        @Option(help: "The user's display name.") var name: String?
        @Flag(help: "Print one JSON object with the created ids.") var json = false

        func run() async throws {
            guard let companyID = UUID(uuidString: companyId) else { throw fail("--company-id is not a company id (a UUID)") }
            guard let role = Role(rawValue: role) else { throw fail("--role is one of owner, admin, member") }
            try await ProvisioningEnvironment().run { provisioning in
                let userID = try await provisioning.addUser(
                    companyID: companyID,
                    email: email,
                    password: password,
                    role: role,
                    dashboardAccess: dashboardAccess,
                    name: name
                )
                printCreated(
                    ["user_id": userID.lowercasedString, "company_id": companyID.lowercasedString],
                    json: json,
                    sentence: "Created user \(userID.lowercasedString)."
                )
            }
        }
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift the lock set after too many wrong codes.")

        @Option(help: "The account's email address.") var email: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let notFound = "No account has that email address."
            try await ProvisioningEnvironment().change("unlocked", json: json, sentence: "Unlocked.", notFound: notFound) {
                try await $0.unlock(email: email)
            }
        }
    }
}

/// `tollgate api-key create|list|revoke` (SPEC §11): keys of the provisioning API, run as the
/// database owner. A key is printed once; only its SHA-256 is stored.
struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Manage keys of the provisioning API.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it once.")

        @Option(help: "A name for the key (unique; events name it).") var name: String
        @Option(help: "Limit the key to one company (default: a platform key for every company).") var companyId: String?
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let companyID = try companyId.map { text in
                guard let id = UUID(uuidString: text) else { throw fail("--company-id is not a company id (a UUID)") }
                return id
            }
            try await ProvisioningEnvironment().run { provisioning in
                let (id, key) = try await provisioning.createAPIKey(name: name, companyID: companyID)
                printCreated(
                    ["id": id.lowercasedString, "name": name, "key": key],
                    json: json,
                    sentence: "Created API key \(name). It is shown only now:\n\(key)"
                )
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys (never the keys themselves).")

        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            try await ProvisioningEnvironment().run { provisioning in
                let keys = try await provisioning.apiKeys()
                if json {
                    let rows = keys.map { key -> [String: String?] in
                        [
                            "id": key.id.lowercasedString, "name": key.name, "company_id": key.companyID?.lowercasedString,
                            "created_at": ISO8601DateFormatter().string(from: key.createdAt),
                            "revoked_at": key.revokedAt.map { ISO8601DateFormatter().string(from: $0) },
                        ]
                    }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    print(String(decoding: try encoder.encode(["keys": rows]), as: UTF8.self))
                } else {
                    for key in keys {
                        print("\(key.name)\t\(key.companyID?.lowercasedString ?? "platform")\t\(key.revokedAt == nil ? "live" : "revoked")")
                    }
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key at once.")

        @Option(help: "The key's name.") var name: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            try await ProvisioningEnvironment().change("revoked", json: json, sentence: "Revoked.", notFound: "No live key has that name.") {
                try await $0.revokeAPIKey(name: name)
            }
        }
    }
}
