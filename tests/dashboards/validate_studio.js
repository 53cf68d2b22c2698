// Validate Dashboard Studio definitions with Splunk's own validator (@splunk/dashboard-validation),
// against a schema built the way Splunk's editor builds it (createSchemaBasedOnDicts) from the option
// schemas of the visualizations we use (@splunk/visualization-schemas) and of `ds.search`
// (@splunk/datasources). The npm packages hold no option schemas for inputs or layouts: inputs are
// checked against the generic input properties only (their type must be one of INPUT_TYPES).
//
// Usage: node validate_studio.js definitions.json   ({"name": definition, ...})
// Prints {"name": null | [error, ...], ...} as JSON.
const fs = require('fs');
const { DashboardValidator } = require('@splunk/dashboard-validation');
const { createSchemaBasedOnDicts } = require('@splunk/dashboard-definition');
const vs = require('@splunk/visualization-schemas');
const dsSearch = require('@splunk/datasources/SplunkSearchOptionsSchema.js').default;

const VISUALIZATIONS = {
  'splunk.line': vs.lineOptionsSchema,
  'splunk.bar': vs.barOptionsSchema,
  'splunk.pie': vs.pieOptionsSchema,
  'splunk.singlevalue': vs.singleValueOptionsSchema,
  'splunk.table': vs.tableOptionsSchema,
};
const INPUT_TYPES = ['input.timerange', 'input.dropdown'];

const schema = createSchemaBasedOnDicts({
  visualizationDict: VISUALIZATIONS,
  dataSourceDict: { 'ds.search': dsSearch },
  inputDict: Object.fromEntries(INPUT_TYPES.map((t) => [t, {}])),
});
const validator = new DashboardValidator();
const failed = validator.setSchema(schema);
if (failed) throw failed;

const definitions = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = {};
for (const [name, definition] of Object.entries(definitions)) {
  const errors = validator.validate(definition);
  out[name] = errors ? errors.map((e) => `${e.instancePath || ''} ${e.message || String(e)}`.trim()) : null;
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
