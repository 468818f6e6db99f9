// Per-turn controls under the composer: model, sampling parameters, system prompt, context,
// response mode (text / JSON object / JSON schema with an editor, templates and a strict
// toggle). Per-model `ui` settings from GET /api/v1/models hide or lock controls. The last
// values are kept in localStorage.
import { h } from './dom.js';
import { loadModels } from './models.js';

const TEMPLATES = {
  person: {
    type: 'object',
    properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
    required: ['name', 'age'],
    additionalProperties: false,
  },
  list: {
    type: 'object',
    properties: { items: { type: 'array', items: { type: 'string' }, minItems: 1 } },
    required: ['items'],
    additionalProperties: false,
  },
  sentiment: {
    type: 'object',
    properties: {
      sentiment: { enum: ['positive', 'neutral', 'negative'] },
      confidence: { type: 'number', minimum: 0, maximum: 1 },
    },
    required: ['sentiment', 'confidence'],
    additionalProperties: false,
  },
};

const NUMBERS = [
  ['temperature', 'Temperature', { min: '0', max: '2', step: '0.1' }],
  ['top_p', 'Top p', { min: '0', max: '1', step: '0.05' }],
  ['max_tokens', 'Max tokens', { min: '1', step: '1' }],
  ['seed', 'Seed', { step: '1' }],
];
const KEY = 'sy_controls';

export class Controls {
  constructor() {
    const saved = JSON.parse(localStorage.getItem(KEY) || '{}');
    this.models = [];
    this.model = h('select', { id: 'model', name: 'model', 'aria-label': 'Model' });
    this.modelText = h('input', { id: 'model-text', name: 'model', placeholder: 'model name', hidden: true, 'aria-label': 'Model' });
    this.fields = {};
    for (const [k, label, a] of NUMBERS) {
      const input = h('input', { id: `p-${k}`, name: k, type: 'number', inputmode: 'decimal', ...a, value: saved[k] ?? '' });
      this.fields[k] = { input, wrap: h('label', { class: 'num' }, label, input) };
    }
    this.system = h('textarea', { id: 'p-system', rows: '2', placeholder: 'System prompt (optional)' });
    this.system.value = saved.system ?? '';
    this.context = h('textarea', { id: 'p-context', rows: '2', placeholder: 'Context block (optional): sent as a second system message' });
    this.context.value = saved.context ?? '';
    this.fields.system = { input: this.system, wrap: h('label', { class: 'wide' }, 'System', this.system) };
    this.contextWrap = h('label', { class: 'wide' }, 'Context', this.context);

    this.mode = h(
      'select',
      { id: 'p-mode', 'aria-label': 'Response mode' },
      h('option', { value: 'text' }, 'Text'),
      h('option', { value: 'json_object' }, 'JSON object'),
      h('option', { value: 'json_schema' }, 'JSON schema'),
    );
    this.mode.value = saved.mode || 'text';
    this.schemaName = h('input', { id: 'p-schema-name', value: saved.schemaName || 'answer', maxlength: '64', 'aria-label': 'Schema name' });
    this.strict = h('input', { id: 'p-strict', type: 'checkbox', checked: saved.strict ?? true });
    this.template = h(
      'select',
      { id: 'p-template', 'aria-label': 'Schema template' },
      h('option', { value: '' }, 'Template…'),
      ...Object.keys(TEMPLATES).map((k) => h('option', { value: k }, k)),
    );
    this.schema = h('textarea', { id: 'p-schema', rows: '8', spellcheck: 'false', class: 'mono', 'aria-label': 'JSON schema' });
    this.schema.value = saved.schema ?? JSON.stringify(TEMPLATES.person, null, 2);
    this.schemaError = h('p', { class: 'error', id: 'schema-error', role: 'alert' });
    this.template.addEventListener('change', () => {
      if (this.template.value) this.schema.value = JSON.stringify(TEMPLATES[this.template.value], null, 2);
      this.template.value = '';
      this.checkSchema();
    });
    this.schema.addEventListener('input', () => this.checkSchema());
    this.schemaBox = h(
      'div',
      { class: 'schema', id: 'schema-box' },
      h('div', { class: 'row' }, h('label', null, 'Name ', this.schemaName), h('label', null, this.strict, ' strict'), this.template),
      this.schema,
      this.schemaError,
    );
    this.modeWrap = h('label', null, 'Response ', this.mode);
    this.mode.addEventListener('change', () => this.sync());
    this.model.addEventListener('change', () => this.sync());

    this.el = h(
      'details',
      { class: 'controls', id: 'controls', open: saved.open ?? false },
      h('summary', null, 'Model and parameters'),
      h(
        'div',
        { class: 'grid' },
        h('label', null, 'Model ', this.model, this.modelText),
        ...NUMBERS.map(([k]) => this.fields[k].wrap),
        this.modeWrap,
      ),
      this.fields.system.wrap,
      this.contextWrap,
      this.schemaBox,
    );
    this.el.addEventListener('toggle', () => this.save());
    this.saved = saved;
    this.ready = this.fill();
  }

  async fill() {
    try {
      this.models = await loadModels();
    } catch {
      this.models = null; // no model list: a free-text model name
    }
    if (this.models) {
      this.model.replaceChildren(...this.models.map((m) => h('option', { value: m.id }, m.id)));
      if (this.saved.model && this.models.some((m) => m.id === this.saved.model)) this.model.value = this.saved.model;
    } else {
      this.model.hidden = true;
      this.modelText.hidden = false;
      this.modelText.value = this.saved.model ?? '';
    }
    this.sync();
  }

  modelName() {
    return (this.models ? this.model.value : this.modelText.value.trim()) || '';
  }

  setModel(name) {
    if (!name) return;
    if (this.models && this.models.some((m) => m.id === name)) this.model.value = name;
    else if (!this.models) this.modelText.value = name;
    this.sync();
  }

  // Applies the model's `ui` (hidden and locked parameters) and the response mode.
  sync() {
    const info = this.models?.find((m) => m.id === this.model.value);
    const ui = info?.ui ?? { hidden: [], locked: {} };
    for (const [k, f] of Object.entries(this.fields)) {
      f.wrap.hidden = ui.hidden.includes(k);
      const locked = Object.hasOwn(ui.locked, k);
      f.input.disabled = locked;
      if (locked) f.input.value = ui.locked[k];
    }
    const rfHidden = ui.hidden.includes('response_format');
    this.modeWrap.hidden = rfHidden;
    if (rfHidden) this.mode.value = 'text';
    this.schemaBox.hidden = this.mode.value !== 'json_schema';
    this.checkSchema();
  }

  checkSchema() {
    if (this.mode.value !== 'json_schema') {
      this.schemaError.textContent = '';
      return null;
    }
    let s;
    try {
      s = JSON.parse(this.schema.value);
    } catch (e) {
      this.schemaError.textContent = `The schema is not valid JSON: ${e.message}`;
      return null;
    }
    if (typeof s !== 'object' || s === null || Array.isArray(s)) {
      this.schemaError.textContent = 'The schema must be a JSON object.';
      return null;
    }
    this.schemaError.textContent = '';
    return s;
  }

  save() {
    const v = {
      model: this.modelName(),
      system: this.system.value,
      context: this.context.value,
      mode: this.mode.value,
      schema: this.schema.value,
      schemaName: this.schemaName.value,
      strict: this.strict.checked,
      open: this.el.open,
    };
    for (const [k] of NUMBERS) v[k] = this.fields[k].input.value;
    localStorage.setItem(KEY, JSON.stringify(v));
  }

  // The generate request's model/params/system/context/response_format, or throws an Error
  // saying what to fix (nothing is sent then).
  request() {
    const model = this.modelName();
    if (!model) throw new Error('Choose a model first.');
    const params = {};
    for (const [k] of NUMBERS) {
      const f = this.fields[k];
      if (f.wrap.hidden || f.input.value === '') continue;
      const n = Number(f.input.value);
      if (!Number.isFinite(n)) throw new Error(`${k} must be a number.`);
      params[k] = n;
    }
    const body = { model };
    if (Object.keys(params).length) body.params = params;
    if (!this.fields.system.wrap.hidden && this.system.value.trim()) body.system = this.system.value;
    if (this.context.value.trim()) body.context = this.context.value;
    const mode = this.mode.value;
    if (mode === 'json_object') body.response_format = { type: 'json_object' };
    else if (mode === 'json_schema') {
      const schema = this.checkSchema();
      if (!schema) {
        this.el.open = true;
        throw new Error(this.schemaError.textContent);
      }
      const js = { name: this.schemaName.value.trim() || 'answer', schema };
      if (this.strict.checked) js.strict = true;
      body.response_format = { type: 'json_schema', json_schema: js };
    } else body.response_format = { type: 'text' };
    this.save();
    return body;
  }
}
