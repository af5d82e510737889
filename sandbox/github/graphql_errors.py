"""GraphQL errors in GitHub's words for the sandbox's GraphQL endpoint (``sandbox.github.graphql``).

GitHub runs graphql-ruby: parse errors, validation errors, variable errors and the node limit
are worded and shaped as it words them, and ``RULES`` are graphql-core's validation rules with
the ones whose wording differs replaced by graphql-ruby's.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any, cast

from graphql import (
    DirectiveNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLNullableType,
    GraphQLScalarType,
    GraphQLSyntaxError,
    InlineFragmentNode,
    ListValueNode,
    Node,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    Undefined,
    ValidationContext,
    ValidationRule,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    print_ast,
    specified_rules,
    type_from_ast,
)
from graphql.language import Lexer, Source, TokenKind

logger = logging.getLogger("sandbox.github.graphql")

# GitHub: https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
MAX_NODES = 500_000


_TOKEN_NAMES = {
    TokenKind.BANG: "BANG",
    TokenKind.DOLLAR: "VAR_SIGN",
    TokenKind.AMP: "AMP",
    TokenKind.PAREN_L: "LPAREN",
    TokenKind.PAREN_R: "RPAREN",
    TokenKind.SPREAD: "ELLIPSIS",
    TokenKind.COLON: "COLON",
    TokenKind.EQUALS: "EQUALS",
    TokenKind.AT: "DIR_SIGN",
    TokenKind.BRACKET_L: "LBRACKET",
    TokenKind.BRACKET_R: "RBRACKET",
    TokenKind.BRACE_L: "LCURLY",
    TokenKind.BRACE_R: "RCURLY",
    TokenKind.PIPE: "PIPE",
    TokenKind.INT: "INT",
    TokenKind.FLOAT: "FLOAT",
    TokenKind.STRING: "STRING",
    TokenKind.BLOCK_STRING: "STRING",
}
_KEYWORDS = {"query", "mutation", "subscription", "fragment", "on", "true", "false", "null"}


def parse_error(query: str, error: GraphQLSyntaxError) -> dict[str, Any]:
    line, column = (
        (error.locations[0].line, error.locations[0].column) if error.locations else (0, 0)
    )
    text, kind = _token_at(query, line, column)
    if kind == "EOF":
        return {"message": "Unexpected end of document", "locations": []}
    message = f'Parse error on "{text}" ({kind}) at [{line}, {column}]'
    return {"message": message, "locations": [{"line": line, "column": column}]}


def _token_at(query: str, line: int, column: int) -> tuple[str, str]:
    """Return the text and graphql-ruby's name of the token at ``line``:``column``."""
    lexer = Lexer(Source(query))
    try:
        token = lexer.advance()
        while token.kind != TokenKind.EOF and (token.line, token.column) < (line, column):
            token = lexer.advance()
    except GraphQLSyntaxError:
        offset = sum(len(row) + 1 for row in query.split("\n")[: line - 1]) + column - 1
        return query[offset : offset + 1], "UNKNOWN_CHAR"
    if token.kind == TokenKind.EOF:
        return "", "EOF"
    if token.kind == TokenKind.NAME:
        value = token.value or ""
        return value, value.upper() if value in _KEYWORDS else "IDENTIFIER"
    return token.value or token.kind.value, _TOKEN_NAMES.get(token.kind, token.kind.name)


def validation_error(error: GraphQLError) -> dict[str, Any]:
    shaped = (error.extensions or {}).get("github")
    return (
        shaped if shaped is not None else {"message": error.message, "locations": _locations(error)}
    )


def _locations(error: GraphQLError) -> list[dict[str, int]]:
    return [{"line": loc.line, "column": loc.column} for loc in error.locations or []]


def node_location(node: Node) -> list[dict[str, int]]:
    if node.loc is None:
        return []
    location = node.loc.source.get_location(node.loc.start)
    return [{"line": location.line, "column": location.column}]


def variable_error(
    error: GraphQLError, operation: OperationDefinitionNode, raw: dict[str, Any]
) -> dict[str, Any]:
    match = re.search(r"Variable '\$(\w+)'", error.message)
    name = match.group(1) if match else ""
    definitions = [d for d in operation.variable_definitions or () if d.variable.name.value == name]
    if not definitions:
        return {"message": error.message, "locations": _locations(error)}
    type_text, value = print_ast(definitions[0].type), raw.get(name)
    explanation = (
        "Expected value to not be null"
        if value is None
        else f"Could not coerce value {json.dumps(value)} to {type_text.strip('[]!')}"
    )
    return {
        "extensions": {"value": value, "problems": [{"path": [], "explanation": explanation}]},
        "locations": node_location(definitions[0]),
        "message": f"Variable ${name} of type {type_text} was provided invalid value",
    }


def node_limit_error(nodes: int) -> dict[str, Any]:
    message = (
        f"This query requests up to {nodes:,} possible nodes which exceeds "
        f"the maximum limit of {MAX_NODES:,}."
    )
    return {"type": "MAX_NODE_LIMIT_EXCEEDED", "message": message}


def execution_error(error: GraphQLError) -> dict[str, Any]:
    kind = (error.extensions or {}).get("type")
    shaped: dict[str, Any] = {"type": kind} if kind else {}
    shaped.update(path=list(error.path or []), locations=_locations(error))
    if kind or isinstance(error.original_error, GraphQLError | None):
        shaped["message"] = error.message
    else:  # a sandbox bug: GitHub's words to the client, the cause to the server log
        logger.error("graphql resolver failed", exc_info=error.original_error)
        shaped["message"] = (
            "Something went wrong while executing your query. This may be the result of a "
            "timeout, or it could be a GitHub bug. Please include "
            f"`{uuid.uuid4().hex[:8].upper()}` when reporting this issue."
        )
    return shaped


def not_found(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"type": "NOT_FOUND"})


class _RubyRule(ValidationRule):
    """graphql-ruby's static checks for the common mistakes, with its messages and paths.

    The path of an error names the operation ("query Name"), fragments ("fragment F",
    "... on T", "... F"), response keys and arguments down to the offending node.
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.path: list[str] = []
        self.declared: dict[str, VariableDefinitionNode] = {}

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        kind = node.operation.value
        self.path.append(f"{kind} {node.name.value}" if node.name else kind)
        self.declared = {d.variable.name.value: d for d in node.variable_definitions or ()}

    def leave_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        self._check_variables_used(node)
        self.path.pop()

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> None:
        name = _type_node_name(node)
        if self.context.schema.get_type(name) is None:
            variable = node.variable.name.value
            code = {"code": "variableRequiresValidType", "typeName": name, "variableName": variable}
            self._report(f"{name} isn't a defined input type (on ${variable})", node, code)

    def enter_fragment_definition(self, node: FragmentDefinitionNode, *_: Any) -> None:
        self._check_condition(node)
        self.path.append(f"fragment {node.name.value}")

    def enter_inline_fragment(self, node: InlineFragmentNode, *_: Any) -> None:
        self._check_condition(node)
        condition = node.type_condition
        self.path.append(f"... on {condition.name.value}" if condition else "...")

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
        self.path.append(f"... {node.name.value}")

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        self.path.append((node.alias or node.name).value)
        parent, definition = self.context.get_parent_type(), self.context.get_field_def()
        if parent is not None and definition is None:
            name = node.name.value
            code = {"code": "undefinedField", "typeName": parent.name, "fieldName": name}
            self._report(f"Field '{name}' doesn't exist on type '{parent.name}'", node, code)
        elif definition is not None:
            self._check_required(node, definition.args, "Field")
            self._check_selections(node, get_named_type(definition.type))

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        directive = self.context.get_directive()
        if directive is not None:
            self._check_required(node, directive.args, "Directive")

    def enter_argument(
        self, node: Any, _key: Any, _parent: Any, _path: Any, ancestors: Any
    ) -> None:
        self.path.append(node.name.value)
        owner = next(a for a in reversed(ancestors) if isinstance(a, FieldNode | DirectiveNode))
        kind = "Field" if isinstance(owner, FieldNode) else "Directive"
        owner_name = (getattr(owner, "alias", None) or owner.name).value
        known = self.context.get_field_def() if kind == "Field" else self.context.get_directive()
        argument = self.context.get_argument()
        if known is not None and argument is None:
            self._not_accepted(node, kind, owner_name)
        elif argument is not None and isinstance(node.value, VariableNode):
            self._check_variable(node, argument.type)
        elif argument is not None:
            self._check_value(node.value, argument.type, (node.name.value, kind, owner_name, owner))

    def leave_fragment_definition(self, *_: Any) -> None:
        self.path.pop()

    def leave_inline_fragment(self, *_: Any) -> None:
        self.path.pop()

    def leave_fragment_spread(self, *_: Any) -> None:
        self.path.pop()

    def leave_field(self, *_: Any) -> None:
        self.path.pop()

    def leave_argument(self, *_: Any) -> None:
        self.path.pop()

    def _report(
        self, message: str, node: Node, extensions: dict[str, Any], path: list[str] | None = None
    ) -> None:
        shaped = {
            "path": list(self.path) if path is None else path,
            "extensions": extensions,
            "locations": node_location(node),
            "message": message,
        }
        self.report_error(GraphQLError(message, node, extensions={"github": shaped}))

    def _check_condition(self, node: InlineFragmentNode | FragmentDefinitionNode) -> None:
        condition = node.type_condition
        if condition is not None and self.context.schema.get_type(condition.name.value) is None:
            name = condition.name.value
            message = f"No such type {name}, so it can't be a fragment condition"
            self._report(message, node, {"code": "undefinedType", "typeName": name})

    def _check_required(
        self, node: FieldNode | DirectiveNode, args: Mapping[str, Any], kind: str
    ) -> None:
        given = {a.name.value for a in node.arguments or ()}
        missing = [
            name
            for name, arg in args.items()
            if isinstance(arg.type, GraphQLNonNull) and arg.default is None and name not in given
        ]
        if missing:
            name, listed = node.name.value, ", ".join(missing)
            message = f"{kind} '{name}' is missing required arguments: {listed}"
            code = {"code": "missingRequiredArguments", "className": kind, "name": name}
            self._report(message, node, {**code, "arguments": listed})

    def _check_selections(self, node: FieldNode, named: GraphQLNamedType) -> None:
        name, selections = node.name.value, node.selection_set
        leaf = isinstance(named, GraphQLScalarType | GraphQLEnumType)
        if leaf and selections:
            shown = ", ".join(_selection_text(s) for s in selections.selections)
            message = (
                f"Selections can't be made on scalars (field '{name}' returns {named.name} "
                f"but has selections [{shown}])"
            )
        elif not leaf and not selections:
            message = (
                f"Field must have selections (field '{name}' returns {named.name} but has no "
                f"selections. Did you mean '{name} {{ ... }}'?)"
            )
        else:
            return
        code = {"code": "selectionMismatch", "nodeName": f"field '{name}'", "typeName": named.name}
        self._report(message, node, code)

    def _not_accepted(self, node: Any, kind: str, owner_name: str) -> None:
        name = node.name.value
        code = {"code": "argumentNotAccepted", "name": owner_name, "typeName": kind}
        message = f"{kind} '{owner_name}' doesn't accept argument '{name}'"
        self._report(message, node, {**code, "argumentName": name})

    def _check_variable(self, node: Any, expected: GraphQLInputType) -> None:
        name = node.value.name.value
        definition = self.declared.get(name)
        declared = type_from_ast(self.context.schema, definition.type) if definition else None
        if definition is None or declared is None:
            return
        if definition.default_value is not None and not isinstance(declared, GraphQLNonNull):
            # Not NonNull, so nullable: graphql-core's stubs cannot narrow that from the check.
            declared = GraphQLNonNull(cast(GraphQLNullableType, declared))
        problem = _variable_mismatch(declared, expected)
        if problem:
            argument = node.name.value
            message = (
                f"{problem} on variable ${name} and argument {argument} ({declared} / {expected})"
            )
            code = {"code": "variableMismatch", "variableName": name, "typeName": str(declared)}
            self._report(message, node, {**code, "argumentName": argument, "errorMessage": problem})

    def _check_value(
        self, value: ValueNode, type_: GraphQLInputType, where: tuple[Any, ...]
    ) -> None:
        """Report an invalid literal; ``where``: (argument, "Field"/"InputObject", owner, node)."""
        nullable = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(nullable, GraphQLInputObjectType) and isinstance(value, ObjectValueNode):
            self._check_object(value, nullable)
        elif not _literal_valid(value, type_):
            argument, kind, owner, node = where
            message = (
                f"Argument '{argument}' on {kind} '{owner}' has an invalid value "
                f"({print_ast(value)}). Expected type '{type_}'."
            )
            code = {
                "code": "argumentLiteralsIncompatible",
                "typeName": kind,
                "argumentName": argument,
            }
            self._report(message, node, code)

    def _check_object(self, value: ObjectValueNode, type_: GraphQLInputObjectType) -> None:
        given = {f.name.value: f for f in value.fields}
        for name, item in given.items():
            self.path.append(name)
            spec = type_.fields.get(name)
            if spec is None:
                self._not_accepted(item, "InputObject", type_.name)
            else:
                self._check_value(item.value, spec.type, (name, "InputObject", type_.name, value))
            self.path.pop()
        for name, spec in type_.fields.items():
            if isinstance(spec.type, GraphQLNonNull) and name not in given:
                message = (
                    f"Argument '{name}' on InputObject '{type_.name}' is required. "
                    f"Expected type {spec.type}"
                )
                code = {"code": "missingRequiredInputObjectAttribute", "argumentName": name}
                code.update(argumentType=str(spec.type), inputObjectType=type_.name)
                self._report(message, value, code, [*self.path, name])

    def _check_variables_used(self, node: OperationDefinitionNode) -> None:
        usages = self.context.get_recursive_variable_usages(node)
        used = {usage.node.name.value: usage.node for usage in usages}
        owner = node.name.value if node.name else "anonymous query"
        for name in self.declared:
            if name not in used:
                message = f"Variable ${name} is declared by {owner} but not used"
                self._report(message, node, {"code": "variableNotUsed", "variableName": name})
        for name, usage in used.items():
            if name not in self.declared:
                message = f"Variable ${name} is used by {owner} but not declared"
                self._report(message, usage, {"code": "variableNotDefined", "variableName": name})


def _type_node_name(node: VariableDefinitionNode) -> str:
    type_node: Any = node.type
    while hasattr(type_node, "type"):
        type_node = type_node.type
    return type_node.name.value


def _selection_text(selection: Any) -> str:
    if isinstance(selection, InlineFragmentNode) and selection.type_condition:
        return f'"... on {selection.type_condition.name.value} {{ ... }}"'
    return f'"{selection.name.value}"'


def _variable_mismatch(declared: Any, expected: Any) -> str | None:
    if get_named_type(declared) is not get_named_type(expected):
        return "Type mismatch"
    if _list_depth(declared) != _list_depth(expected):
        return "List dimension mismatch"
    if not _nullability_fits(expected, declared):
        return "Nullability mismatch"
    return None


def _list_depth(type_: Any) -> int:
    if isinstance(type_, GraphQLNonNull):
        return _list_depth(type_.of_type)
    return 1 + _list_depth(type_.of_type) if isinstance(type_, GraphQLList) else 0


def _nullability_fits(expected: Any, declared: Any) -> bool:
    if isinstance(expected, GraphQLNonNull) and not isinstance(declared, GraphQLNonNull):
        return False
    if isinstance(declared, GraphQLNonNull) and not isinstance(expected, GraphQLNonNull):
        declared = declared.of_type
    if hasattr(expected, "of_type") and hasattr(declared, "of_type"):
        return _nullability_fits(expected.of_type, declared.of_type)
    return True


def _literal_valid(value: ValueNode, type_: GraphQLInputType) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, NullValueNode):
        return not isinstance(type_, GraphQLNonNull)
    if isinstance(type_, GraphQLNonNull):
        return _literal_valid(value, type_.of_type)
    if isinstance(type_, GraphQLList):
        items = value.values if isinstance(value, ListValueNode) else (value,)
        return all(_literal_valid(item, type_.of_type) for item in items)
    if isinstance(type_, GraphQLInputObjectType):
        return isinstance(value, ObjectValueNode) and _object_valid(value, type_)
    if isinstance(type_, GraphQLEnumType):
        return isinstance(value, EnumValueNode) and value.value in type_.values
    try:
        return type_.parse_literal(value) is not Undefined
    except (GraphQLError, TypeError, ValueError):
        return False


def _object_valid(value: ObjectValueNode, type_: GraphQLInputObjectType) -> bool:
    given = {f.name.value: f.value for f in value.fields}
    required = [n for n, f in type_.fields.items() if isinstance(f.type, GraphQLNonNull)]
    return all(n in given for n in required) and all(
        n in type_.fields and _literal_valid(v, type_.fields[n].type) for n, v in given.items()
    )


# graphql-core's own rules stay for the rarer mistakes; these it says in graphql-ruby's words.
_REPLACED_RULES = {
    "FieldsOnCorrectTypeRule",
    "KnownArgumentNamesRule",
    "KnownTypeNamesRule",
    "NoUndefinedVariablesRule",
    "NoUnusedVariablesRule",
    "ProvidedRequiredArgumentsRule",
    "ScalarLeafsRule",
    "ValuesOfCorrectTypeRule",
    "VariablesInAllowedPositionRule",
}
RULES = [rule for rule in specified_rules if rule.__name__ not in _REPLACED_RULES] + [_RubyRule]
