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
        pool = PQPool(configuration: PQPoolConfiguration(conninfo: configuration.databaseURL!, maxConnections: 1), logger: logger)
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
                    name: name, ownerEmail: ownerEmail, ownerPassword: ownerPassword, ownerName: ownerName
                )
                printCreated(
                    ["company_id": companyID.uuidString.lowercased(), "owner_id": ownerID.uuidString.lowercased()], json: json,
                    sentence: "Created company \(companyID.uuidString.lowercased()) with owner \(ownerID.uuidString.lowercased())."
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
                    companyID: companyID, email: email, password: password, role: role, dashboardAccess: dashboardAccess, name: name
                )
                printCreated(
                    ["user_id": userID.uuidString.lowercased(), "company_id": companyID.uuidString.lowercased()], json: json,
                    sentence: "Created user \(userID.uuidString.lowercased())."
                )
            }
        }
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift the lock set after too many wrong codes.")

        @Option(help: "The account's email address.") var email: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            try await ProvisioningEnvironment().run { provisioning in
                guard try await provisioning.unlock(email: email) else { throw DomainError(.notFound, "No account has that email address.") }
                printCreated(["unlocked": true], json: json, sentence: "Unlocked.")
            }
        }
    }
}
