"""DSL → OpenAPI 3.0.3 (spec §8)."""

import json
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from apps.dsl.compiler import compile_source, parse
from apps.dsl.openapi import (
    Config,
    Generator,
    OpenAPIGenerationError,
    ServerConfig,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "dsl-corpus"


def generate(source: str, config: Config | None = None) -> dict:
    document = Generator(config).generate_from_source(source)
    validate(document)
    return document


def operation(source: str, path: str, method: str = "get") -> dict:
    return generate(source)["paths"][path][method]


def refs(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(value)
            else:
                found.extend(refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(refs(item))
    return found


def assert_refs_resolve(document: dict) -> None:
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"], ref


# -- info and servers -------------------------------------------------------------------------


def test_document_is_openapi_3_0_3():
    assert generate('endpoint GET "/health" { }')["openapi"] == "3.0.3"


def test_info_defaults_to_api_and_1_0_0():
    assert generate("var x = 1")["info"] == {"title": "API", "version": "1.0.0"}


def test_info_comes_from_the_config_block():
    info = generate('config { name: "orders" version: "2.1.0" }')["info"]
    assert info == {"title": "orders", "version": "2.1.0"}


def test_explicit_title_and_version_override_the_config_block():
    config = Config(title="Orders API", version="9.9.9", description="All about orders")
    info = generate('config { name: "orders" version: "2.1.0" }', config)["info"]
    assert info == {"title": "Orders API", "version": "9.9.9", "description": "All about orders"}


def test_servers_come_from_the_generator_config():
    config = Config(
        servers=[
            ServerConfig(url="https://api.example.com", description="production"),
            ServerConfig(url="http://localhost:8080"),
        ]
    )
    assert generate("var x = 1", config)["servers"] == [
        {"url": "https://api.example.com", "description": "production"},
        {"url": "http://localhost:8080"},
    ]


def test_no_servers_key_without_servers():
    assert "servers" not in generate("var x = 1")


# -- paths, operation ids, summaries, tags ---------------------------------------------------


def test_path_parameters_are_rewritten_and_methods_lower_cased():
    document = generate('endpoint DELETE "/users/:id/posts/:post_id" { }')
    assert list(document["paths"]) == ["/users/{id}/posts/{post_id}"]
    assert list(document["paths"]["/users/{id}/posts/{post_id}"]) == ["delete"]


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/files/:name.json", "/files/{name.json}"),
        ("/x/:a:b/:c!d", "/x/{a_b}/{c_d}"),
        ("/x/{id}/y", "/x/{id}/y"),
        ("/x/a{b/c}", "/x/a%7Bb/c%7D"),
    ],
)
def test_unusual_paths_still_give_valid_templates(path, template):
    document = generate(f'endpoint GET "{path}" {{ }}')
    assert list(document["paths"]) == [template]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/users/:id", "getUsersById"),
        ("GET", "/", "get"),
        ("POST", "/api/v1/users", "postApiV1Users"),
        ("PATCH", "/user-profiles/:id/avatar", "patchUser-ProfilesByIdAvatar"),
    ],
)
def test_operation_id_is_method_plus_capitalised_segments(method, path, expected):
    document = generate(f'endpoint {method} "{path}" {{ }}')
    (path_item,) = document["paths"].values()
    assert path_item[method.lower()]["operationId"] == expected


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/users/:id", "Get User by ID"),
        ("GET", "/users", "List Users"),
        ("POST", "/categories", "Create Category"),
        ("PUT", "/addresses/:id", "Update Address"),
        ("PATCH", "/user_accounts/:id", "Partially update User Account"),
        ("DELETE", "/class/:id", "Delete Class"),
    ],
)
def test_summary_follows_method_and_singular_resource(method, path, expected):
    document = generate(f'endpoint {method} "{path}" {{ }}')
    (path_item,) = document["paths"].values()
    assert path_item[method.lower()]["summary"] == expected


def test_operation_is_tagged_with_its_first_path_segment():
    assert operation('endpoint GET "/users/:id" { }', "/users/{id}")["tags"] == ["users"]


@pytest.mark.parametrize("path", ["/", "/:id"])
def test_no_tag_when_first_segment_is_empty_or_a_parameter(path):
    document = generate(f'endpoint GET "{path}" {{ }}')
    (path_item,) = document["paths"].values()
    assert "tags" not in path_item["get"]


def test_tag_annotations_add_tags():
    source = '@tag("admin") @tags("beta")\nendpoint GET "/users" { }'
    assert operation(source, "/users")["tags"] == ["users", "admin", "beta"]


def test_top_level_tags_are_distinct_first_segments_sorted():
    source = """
    endpoint GET "/users" { }
    endpoint GET "/orders/:id" { }
    endpoint POST "/users" { }
    endpoint GET "/" { }
    """
    assert generate(source)["tags"] == [
        {"name": "orders", "description": "Operations for orders"},
        {"name": "users", "description": "Operations for users"},
    ]


# -- parameters and request bodies -------------------------------------------------------------


def test_every_path_parameter_is_a_required_string_parameter():
    params = operation('endpoint GET "/a/:x/b/:y" { }', "/a/{x}/b/{y}")["parameters"]
    assert params == [
        {"name": "x", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "y", "in": "path", "required": True, "schema": {"type": "string"}},
    ]


def test_request_from_query_adds_a_form_exploded_query_parameter():
    source = 'endpoint GET "/users" { request UserFilter from query }'
    assert operation(source, "/users")["parameters"] == [
        {
            "name": "query",
            "in": "query",
            "style": "form",
            "explode": True,
            "schema": {"$ref": "#/components/schemas/UserFilter"},
        }
    ]


def test_request_from_header_adds_a_header_parameter_named_after_the_type():
    source = 'endpoint GET "/users" { request XTenant from header }'
    assert operation(source, "/users")["parameters"] == [
        {"name": "XTenant", "in": "header", "schema": {"type": "string"}}
    ]


def test_request_from_body_sets_a_required_json_request_body():
    source = 'endpoint POST "/users" { request CreateUser from body }'
    assert operation(source, "/users", "post")["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateUser"}}},
    }


def test_request_from_path_only_keeps_the_path_parameters():
    op = operation('endpoint GET "/users/:id" { request UserId from path }', "/users/{id}")
    assert [p["name"] for p in op["parameters"]] == ["id"]
    assert "requestBody" not in op


# -- responses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (200, "OK"),
        (201, "Created"),
        (204, "No Content"),
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (409, "Conflict"),
        (422, "Unprocessable Entity"),
        (500, "Internal Server Error"),
        (418, "Response 418"),
    ],
)
def test_response_clause_maps_status_to_description_and_schema(status, description):
    source = f'endpoint GET "/users" {{ response User status {status} }}'
    response = operation(source, "/users")["responses"][str(status)]
    assert response == {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}},
    }


def test_without_response_clause_200_success_and_common_errors_are_listed():
    responses = operation('endpoint GET "/users" { }', "/users")["responses"]
    assert responses == {
        "200": {"description": "Success"},
        "400": {"description": "Bad Request"},
        "401": {"description": "Unauthorized"},
        "500": {"description": "Internal Server Error"},
    }


def test_common_error_responses_are_added_after_the_declared_one():
    responses = operation('endpoint POST "/u" { response U status 201 }', "/u", "post")["responses"]
    assert list(responses) == ["201", "400", "401", "500"]


# -- annotations and extensions ----------------------------------------------------------------


def test_deprecated_annotation_marks_the_operation_case_insensitively():
    assert operation('@Deprecated\nendpoint GET "/old" { }', "/old")["deprecated"] is True


def test_auth_annotations_append_security_requirements():
    source = '@auth("api_jwt") @auth("api_key")\nendpoint GET "/users" { }'
    assert operation(source, "/users")["security"] == [{"api_jwt": []}, {"api_key": []}]


def test_summary_and_description_annotations_override():
    source = '@summary("Find people") @description("Lists them all")\nendpoint GET "/users" { }'
    op = operation(source, "/users")
    assert (op["summary"], op["description"]) == ("Find people", "Lists them all")


def test_source_extension_is_the_position_of_the_endpoint_keyword():
    source = 'var x = 1\n@deprecated\n  endpoint GET "/users" { }'
    assert operation(source, "/users")["x-codeai-source"] == "3:3"


def test_middleware_extension_lists_the_endpoint_middlewares():
    source = 'endpoint GET "/users" { middleware auth_mw middleware rate_mw }'
    assert operation(source, "/users")["x-codeai-middleware"] == ["auth_mw", "rate_mw"]


def test_middleware_extension_is_omitted_without_middleware():
    assert "x-codeai-middleware" not in operation('endpoint GET "/users" { }', "/users")


def test_later_operation_on_the_same_method_and_path_replaces_the_earlier():
    source = 'function getUsers() { }\nendpoint GET "/users" { response UserList status 200 }'
    op = operation(source, "/users")
    assert op["operationId"] == "getUsers"
    assert "x-codeai-handler" not in op
    assert op["x-codeai-source"] == "2:1"


def test_repeated_operation_ids_get_a_numeric_suffix():
    document = generate('endpoint GET "/users/:id" { }\nendpoint GET "/users/:name" { }')
    ids = [item["get"]["operationId"] for item in document["paths"].values()]
    assert ids == ["getUsersById", "getUsersById_2"]


# -- function handlers ------------------------------------------------------------------------


def sample_document() -> dict:
    return Generator().generate_from_file(
        CORPUS / "files" / "internal__openapi__testdata__sample.cai"
    )


def test_function_handlers_become_operations_by_name_prefix():
    paths = sample_document()["paths"]
    routes = {
        (path, method): op["operationId"]
        for path, item in paths.items()
        for method, op in item.items()
    }
    assert routes == {
        ("/users", "get"): "getUsers",
        ("/user/{id}", "get"): "getUserById",
        ("/user", "post"): "createUser",
        ("/user", "put"): "updateUser",
        ("/user", "delete"): "deleteUser",
        ("/products", "get"): "listProducts",
        ("/product/{id}", "get"): "getProductById",
        ("/orders", "get"): "handle_get_orders",
    }


def test_function_parameters_are_path_parameters_when_in_the_path_else_query():
    paths = sample_document()["paths"]
    assert paths["/user/{id}"]["get"]["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert paths["/user"]["put"]["parameters"] == [
        {"name": name, "in": "query", "schema": {"type": "string"}}
        for name in ("id", "name", "email")
    ]


def test_function_handler_carries_handler_and_source_extensions():
    op = sample_document()["paths"]["/users"]["get"]
    assert op["x-codeai-handler"] == "getUsers"
    assert op["x-codeai-source"] == "4:1"
    assert op["summary"] == "List Users"


def test_function_with_by_id_suffix_and_no_id_parameter_still_declares_id():
    op = operation("function fetchOrderById() { }", "/order/{id}")
    assert op["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]


def test_other_prefixes_map_to_their_methods():
    source = """
    function addItem() { }
    function editItem() { }
    function patchItem() { }
    function removeItem() { }
    function handle_patch_user_settings() { }
    function helper() { }
    """
    paths = generate(source)["paths"]
    assert {path: sorted(item) for path, item in paths.items()} == {
        "/item": ["delete", "patch", "post", "put"],
        "/user_settings": ["patch"],
    }


def test_sample_file_validates():
    document = sample_document()
    validate(document)
    assert_refs_resolve(document)


# -- components.schemas: models ----------------------------------------------------------------

MODEL_SOURCE = """
database postgres {
  model Everything {
    description: "All the types"
    a: string
    b: text
    c: int
    d: integer
    e: decimal
    f: bool
    g: boolean
    h: uuid
    i: timestamp
    j: date
    k: time
    l: json
    m: jsonb
    n: list(string)
    o: array(int)
    p: ref(Other)
    q: enum(low, high)
  }
  model Other {
    id: uuid, primary, auto
    email: string, unique, required
    nick: string, optional
    status: enum(active, gone), default("active")
    count: int, default(3)
    flag: bool, default(true)
    note: string, default(7)
    owner: ref(Everything), required
    parent: ref(Everything), optional
  }
}
"""


def model_schemas() -> dict:
    return generate(MODEL_SOURCE)["components"]["schemas"]


def test_model_types_map_to_openapi_types():
    properties = model_schemas()["Everything"]["properties"]
    assert properties == {
        "a": {"type": "string"},
        "b": {"type": "string"},
        "c": {"type": "integer", "format": "int32"},
        "d": {"type": "integer", "format": "int32"},
        "e": {"type": "number", "format": "double"},
        "f": {"type": "boolean"},
        "g": {"type": "boolean"},
        "h": {"type": "string", "format": "uuid"},
        "i": {"type": "string", "format": "date-time"},
        "j": {"type": "string", "format": "date"},
        "k": {"type": "string", "format": "time"},
        "l": {"type": "object"},
        "m": {"type": "object"},
        "n": {"type": "array", "items": {"type": "string"}},
        "o": {"type": "array", "items": {"type": "integer", "format": "int32"}},
        "p": {"$ref": "#/components/schemas/Other"},
        "q": {"type": "string", "enum": ["low", "high"]},
    }


def test_model_schema_has_description_and_database_extension():
    schema = model_schemas()["Everything"]
    assert schema["type"] == "object"
    assert schema["description"] == "All the types"
    assert schema["x-database-type"] == "postgres"
    assert "required" not in schema


def test_model_required_lists_fields_with_the_required_modifier():
    assert model_schemas()["Other"]["required"] == ["email", "owner"]


def test_model_modifiers_map_to_schema_keywords():
    properties = model_schemas()["Other"]["properties"]
    assert properties["id"] == {
        "type": "string",
        "format": "uuid",
        "description": "Primary key",
        "readOnly": True,
    }
    assert properties["email"] == {"type": "string", "description": "Unique"}
    assert properties["nick"] == {"type": "string", "nullable": True}


def test_literal_defaults_that_fit_the_field_are_kept():
    properties = model_schemas()["Other"]["properties"]
    assert properties["status"]["default"] == "active"
    assert properties["count"]["default"] == 3
    assert properties["flag"]["default"] is True


def test_default_that_does_not_fit_the_field_type_is_left_out():
    assert "default" not in model_schemas()["Other"]["properties"]["note"]


def test_ref_field_without_schema_keywords_stays_a_plain_ref():
    owner = model_schemas()["Other"]["properties"]["owner"]
    assert owner == {"$ref": "#/components/schemas/Everything"}


def test_ref_field_with_schema_keywords_is_wrapped_in_all_of():
    assert model_schemas()["Other"]["properties"]["parent"] == {
        "allOf": [{"$ref": "#/components/schemas/Everything"}],
        "nullable": True,
    }


# -- components.schemas: collections -----------------------------------------------------------

COLLECTION_SOURCE = """
config { database_type: "mongodb" mongodb_uri: "mongodb://localhost" mongodb_database: "app" }
database mongodb {
  collection Product {
    _id: objectid, primary
    name: string
    small: int32
    big: int64
    price: double
    exact: decimal
    added: date
    changed: timestamp
    blob: binary
    tags: array(string)
    anything: array
    meta: object
    stock: int, optional
    address: embedded {
      city: string
      zip: string, optional
    }
  }
  collection Note {
    description: "Free-form notes"
    body: string
  }
}
"""


def collection_schemas() -> dict:
    return generate(COLLECTION_SOURCE)["components"]["schemas"]


def test_collection_types_map_to_openapi_types():
    properties = collection_schemas()["Product"]["properties"]
    assert properties["_id"] == {
        "type": "string",
        "format": "objectid",
        "pattern": "^[a-fA-F0-9]{24}$",
    }
    assert properties["name"] == {"type": "string"}
    assert properties["small"] == {"type": "integer", "format": "int32"}
    assert properties["big"] == {"type": "integer", "format": "int64"}
    assert properties["price"] == {"type": "number"}
    assert properties["exact"] == {"type": "string", "format": "decimal"}
    assert properties["added"] == {"type": "string", "format": "date-time"}
    assert properties["changed"] == {"type": "string", "format": "date-time"}
    assert properties["blob"] == {"type": "string", "format": "binary"}
    assert properties["tags"] == {"type": "array", "items": {"type": "string"}}
    assert properties["anything"] == {"type": "array", "items": {}}
    assert properties["meta"] == {"type": "object"}


def test_embedded_document_is_a_nested_object_schema():
    assert collection_schemas()["Product"]["properties"]["address"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        "required": ["city"],
    }


def test_collection_required_lists_fields_without_optional():
    assert "stock" not in collection_schemas()["Product"]["required"]
    assert collection_schemas()["Product"]["required"][:2] == ["_id", "name"]


def test_collection_description_defaults_to_mongodb_collection_name():
    schemas = collection_schemas()
    assert schemas["Product"]["description"] == "MongoDB collection: Product"
    assert schemas["Note"]["description"] == "Free-form notes"


def test_collection_carries_the_mongo_collection_extension():
    assert collection_schemas()["Product"]["x-mongo-collection"] == "Product"


# -- components.securitySchemes ----------------------------------------------------------------


def test_auth_declarations_become_security_schemes():
    source = """
    auth plain_jwt { method jwt }
    auth keyed_jwt { method jwt jwks_url "https://auth.example.com/jwks.json" }
    auth sso { method oauth2 }
    auth key { method apikey }
    auth login { method basic }
    """
    assert generate(source)["components"]["securitySchemes"] == {
        "plain_jwt": {
            "type": "http",
            "description": "plain_jwt authentication",
            "scheme": "bearer",
            "bearerFormat": "JWT",
        },
        "keyed_jwt": {
            "type": "http",
            "description": "JWT authentication (JWKS: https://auth.example.com/jwks.json)",
            "scheme": "bearer",
            "bearerFormat": "JWT",
        },
        "sso": {"type": "oauth2", "description": "sso authentication", "flows": {}},
        "key": {
            "type": "apiKey",
            "description": "key authentication",
            "in": "header",
            "name": "X-API-Key",
        },
        "login": {"type": "http", "description": "login authentication", "scheme": "basic"},
    }


# -- references -------------------------------------------------------------------------------


def test_undeclared_request_and_response_types_get_a_minimal_object_schema():
    source = 'endpoint POST "/users" { request NewUser from body response UserOut status 201 }'
    schemas = generate(source)["components"]["schemas"]
    assert schemas == {"NewUser": {"type": "object"}, "UserOut": {"type": "object"}}


def test_declared_models_are_not_replaced_by_placeholders():
    source = """
    database postgres { model User { id: uuid } }
    endpoint GET "/u" { response User status 200 }
    """
    assert generate(source)["components"]["schemas"]["User"]["properties"] == {
        "id": {"type": "string", "format": "uuid"}
    }


def test_every_ref_resolves_in_models_collections_and_endpoints():
    source = (
        MODEL_SOURCE
        + """
    database postgres { model Extra { link: ref(Missing) items: list(ref(AlsoMissing)) } }
    endpoint GET "/x" { request Q from query response R status 200 }
    """
    )
    assert_refs_resolve(generate(source))


# -- worked example (spec §9) -------------------------------------------------------------------

WORKED_EXAMPLE = """config { name: "orders" version: "2.1.0" database_type: "postgres" }

database postgres {
  model Order {
    id: uuid, primary, auto
    status: enum(pending, paid), default("pending")
    index: [status]
  }
}

auth api_jwt { method jwt jwks_url "https://auth.example.com/jwks.json" }

@auth("api_jwt")
endpoint GET "/orders/:id" { response Order status 200 }

workflow Fulfil {
  trigger event "order.paid"
  pick: Agent("gpt-4", "Choose a warehouse")
}

var greeting = "hello\\tworld"
print(greeting)                  // output line: hello<TAB>world
"""


def test_worked_example_document():
    assert generate(WORKED_EXAMPLE) == {
        "openapi": "3.0.3",
        "info": {"title": "orders", "version": "2.1.0"},
        "tags": [{"name": "orders", "description": "Operations for orders"}],
        "paths": {
            "/orders/{id}": {
                "get": {
                    "tags": ["orders"],
                    "summary": "Get Order by ID",
                    "operationId": "getOrdersById",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Order"}
                                }
                            },
                        },
                        "400": {"description": "Bad Request"},
                        "401": {"description": "Unauthorized"},
                        "500": {"description": "Internal Server Error"},
                    },
                    "security": [{"api_jwt": []}],
                    "x-codeai-source": "14:1",
                }
            }
        },
        "components": {
            "schemas": {
                "Order": {
                    "type": "object",
                    "properties": {
                        "id": {
                            "type": "string",
                            "format": "uuid",
                            "description": "Primary key",
                            "readOnly": True,
                        },
                        "status": {
                            "type": "string",
                            "enum": ["pending", "paid"],
                            "default": "pending",
                        },
                    },
                    "x-database-type": "postgres",
                }
            },
            "securitySchemes": {
                "api_jwt": {
                    "type": "http",
                    "description": "JWT authentication (JWKS: https://auth.example.com/jwks.json)",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                }
            },
        },
    }


# -- the corpus ---------------------------------------------------------------------------------


def valid_corpus_files() -> list[Path]:
    files = []
    for path in sorted((CORPUS / "files").glob("*.cai")):
        result = compile_source(path.read_text())
        if result.ast_json is not None and not result.errors:
            files.append(path)
    return files


def valid_corpus_cases() -> list[dict]:
    cases = json.loads((CORPUS / "cases.json").read_text())["cases"]
    return [case for case in cases if case["expect"] == "accept" and not case["errors"]]


@pytest.mark.parametrize("path", valid_corpus_files(), ids=lambda path: path.name)
def test_every_valid_corpus_file_generates_a_valid_document(path):
    document = Generator().generate_from_file(path)
    validate(document)
    assert_refs_resolve(document)


@pytest.mark.parametrize("case", valid_corpus_cases(), ids=lambda case: case["id"])
def test_every_valid_corpus_case_generates_a_valid_document(case):
    document = Generator().generate_from_source(case["input"])
    validate(document)
    assert_refs_resolve(document)


def test_corpus_has_valid_files_to_check():
    assert len(valid_corpus_files()) >= 15


# -- errors and API -----------------------------------------------------------------------------


def test_parse_error_raises_generation_error_with_the_message():
    with pytest.raises(OpenAPIGenerationError) as caught:
        Generator().generate_from_source("var x = [1, 2,]")
    (message,) = caught.value.errors
    assert message.startswith('1:15: unexpected token "]"')


def test_validation_errors_raise_generation_error_with_every_message():
    with pytest.raises(OpenAPIGenerationError) as caught:
        Generator().generate_from_source("x = 1\nvar y = z")
    assert caught.value.errors == [
        "1:1: ScopeError: undefined variable 'x'",
        "2:9: ScopeError: undefined variable 'z'",
    ]
    assert "undefined variable 'x'" in str(caught.value)


def test_generate_from_program_accepts_a_parsed_program():
    document = Generator().generate_from_program(parse('endpoint GET "/health" { }'))
    assert "/health" in document["paths"]


def test_generate_from_program_validates_a_parsed_program():
    with pytest.raises(OpenAPIGenerationError):
        Generator().generate_from_program(parse("print(nope)"))


def test_generate_from_program_accepts_the_json_form():
    tree = compile_source('endpoint GET "/health" { }').ast_json
    assert "/health" in Generator().generate_from_program(tree)["paths"]


def test_write_to_file_writes_yaml_for_yaml_and_yml(tmp_path):
    generator = Generator()
    document = generator.generate_from_source(WORKED_EXAMPLE)
    for name in ("api.yaml", "api.yml"):
        generator.write_to_file(tmp_path / name, document)
        assert yaml.safe_load((tmp_path / name).read_text()) == document
    assert (tmp_path / "api.yaml").read_text().startswith("openapi: 3.0.3")


def test_write_to_file_writes_json_for_json(tmp_path):
    generator = Generator()
    document = generator.generate_from_source(WORKED_EXAMPLE)
    generator.write_to_file(tmp_path / "api.json", document)
    text = (tmp_path / "api.json").read_text()
    assert json.loads(text) == document
    assert text.startswith("{\n")


def test_write_to_file_rejects_other_extensions(tmp_path):
    with pytest.raises(ValueError, match="unsupported output format"):
        Generator().write_to_file(tmp_path / "api.txt", {"openapi": "3.0.3"})
    assert not (tmp_path / "api.txt").exists()
