-- 00012_image_configs_personality_tools: what image generation and tool
-- calls need per personality (issue 13).
--
-- image_configs: a personality's image setup, one row per personality, like
-- voice_configs. plugin is the plugins.toml entry that grants image.generate
-- (same format as voice_configs.provider); '' means "the deployment's
-- default image plugin". model, size and style are the portable knobs the
-- host passes in abi.ImageRequest ('' = the plugin's own default).
-- parameters holds the plugin's own knobs, validated against the plugin's
-- image_schema when saved and again before each call (a plugin upgrade can
-- change the schema). enabled switches the personality's images off without
-- losing the setup.
--
-- personality_tools: the tools a personality may call in the agent loop.
-- A tool is named as the host identifies it: the built-in image tool is
-- 'generate_image' (it maps to the personality's image config), any other
-- tool is '<plugins.toml entry>/<tool name>' (e.g. 'time/now'), so two
-- plugins offering a tool of the same name never collide. No row, no tool:
-- the default is deny. The deployment's own switch (plugins.toml grants and
-- TZUROT_TOOLS) applies on top; a grant here never widens it.

-- +goose Up
CREATE TABLE image_configs (
    personality_id bigint      PRIMARY KEY REFERENCES personalities (id) ON DELETE CASCADE,
    plugin         text        NOT NULL DEFAULT '',
    model          text        NOT NULL DEFAULT '',
    size           text        NOT NULL DEFAULT '',
    style          text        NOT NULL DEFAULT '',
    parameters     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    enabled        boolean     NOT NULL DEFAULT true,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT image_configs_plugin_format CHECK (plugin = '' OR (plugin ~ '^[a-z0-9][a-z0-9_.-]*$' AND length(plugin) <= 40)),
    CONSTRAINT image_configs_model_length CHECK (length(model) <= 200),
    CONSTRAINT image_configs_size_format CHECK (size = '' OR size ~ '^[0-9]{1,5}x[0-9]{1,5}$'),
    CONSTRAINT image_configs_style_length CHECK (length(style) <= 100),
    CONSTRAINT image_configs_parameters_object CHECK (jsonb_typeof(parameters) = 'object')
);
CREATE TRIGGER image_configs_touch BEFORE UPDATE ON image_configs
    FOR EACH ROW EXECUTE FUNCTION tzurot_touch_updated_at();

CREATE TABLE personality_tools (
    personality_id bigint      NOT NULL REFERENCES personalities (id) ON DELETE CASCADE,
    tool           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (personality_id, tool),
    CONSTRAINT personality_tools_tool_format CHECK (
        tool = 'generate_image'
        OR (tool ~ '^[a-z0-9][a-z0-9_.-]*/[A-Za-z0-9_-]+$' AND length(tool) <= 105))
);

-- +goose Down
DROP TABLE personality_tools;
DROP TABLE image_configs;
