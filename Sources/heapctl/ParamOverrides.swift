// ParamOverrides: `--param name=value` arguments, as `run` and `bench` take them.

import ArgumentParser

enum ParamOverrides {
    /// The overrides as a dictionary; a malformed one is a usage error.
    static func parse(_ arguments: [String]) throws -> [String: Int64] {
        var params: [String: Int64] = [:]
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = Int64(parts[1]) else {
                throw ValidationError("--param takes name=integer, not '\(argument)'")
            }
            params[String(parts[0])] = value
        }
        return params
    }
}
