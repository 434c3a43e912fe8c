// Makes Node look enough like a browser for @gomomento/sdk-web: the xhr2
// XMLHttpRequest polyfill, streaming as browsers do, and a navigator.
// Required first by web.test.cjs and momento-web.test.cjs.
'use strict';

const XHR2 = require('xhr2');

// xhr2 exposes responseText only when a response is complete and fires
// readystatechange once for the LOADING state. Browsers update responseText
// and fire readystatechange for every chunk of a response that is still
// loading, which is how grpc-web reads a server stream (Subscribe). This
// subclass adds that browser behaviour and nothing else.
class StreamingXMLHttpRequest extends XHR2 {
  _onHttpResponseData(response, data) {
    const result = super._onHttpResponseData(response, data);
    if (this._response === response && (this.responseType === '' || this.responseType === 'text')) {
      this.responseText = Buffer.concat(this._responseParts.map(p => (Buffer.isBuffer(p) ? p : Buffer.from(p)))).toString('utf8');
      this._setReadyState(XHR2.LOADING);
    }
    return result;
  }
}
global.XMLHttpRequest = StreamingXMLHttpRequest;
// Node 20 has no navigator; the web SDK reads navigator.userAgent.
if (typeof globalThis.navigator === 'undefined') {
  globalThis.navigator = { userAgent: `Node.js/${process.version}` };
}
