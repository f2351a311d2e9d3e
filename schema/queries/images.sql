-- name: ImageConfig :one
SELECT plugin, model, size, style, parameters, enabled
FROM image_configs WHERE personality_id = @personality_id;

-- name: UpsertImageConfig :exec
INSERT INTO image_configs (personality_id, plugin, model, size, style, parameters, enabled)
VALUES (@personality_id, @plugin, @model, @size, @style, @parameters, @enabled)
ON CONFLICT (personality_id) DO UPDATE SET
    plugin = excluded.plugin,
    model = excluded.model,
    size = excluded.size,
    style = excluded.style,
    parameters = excluded.parameters,
    enabled = excluded.enabled;

-- name: DeleteImageConfig :execrows
DELETE FROM image_configs WHERE personality_id = @personality_id;

-- name: PersonalityTools :many
SELECT tool FROM personality_tools WHERE personality_id = @personality_id ORDER BY tool;

-- name: GrantPersonalityTool :execrows
INSERT INTO personality_tools (personality_id, tool) VALUES (@personality_id, @tool)
ON CONFLICT DO NOTHING;

-- name: RevokePersonalityTool :execrows
DELETE FROM personality_tools WHERE personality_id = @personality_id AND tool = @tool;
