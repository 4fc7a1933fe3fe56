# Compatibility matrix client: the Ruby `mail` gem (Debian ruby-mail; what Action Mailer uses)
# sends the matrix message. Usage: ruby ruby-mail-send.rb <spec.json>
# Prints "OK <the server's last reply>" or raises (non-zero exit).
require 'json'
require 'mail'

spec = JSON.parse(File.read(ARGV[0]))

settings = {
  address: '127.0.0.1',
  port: spec['port'],
  domain: 'matrix.example.com',
  user_name: spec['user'],
  password: spec['password'],
  authentication: spec['authType'].downcase.to_sym,
  openssl_verify_mode: 'none',
  return_response: true,
  open_timeout: 10,
  read_timeout: 15,
}
if spec['mode'] == 'smtps'
  settings[:tls] = true
else
  settings[:enable_starttls] = true
end

mail = Mail.new do
  from     "#{spec['fromName']} <#{spec['fromAddress']}>"
  to       [0, 1].map { |i| "#{spec['toNames'][i]} <#{spec['to'][i]}>" }
  cc       spec['cc']
  bcc      spec['bcc']
  subject  spec['subject']
end
mail.charset = 'UTF-8'
text = spec['text']
html = spec['html']
mail.text_part = Mail::Part.new do
  content_type 'text/plain; charset=UTF-8'
  body text
end
mail.html_part = Mail::Part.new do
  content_type 'text/html; charset=UTF-8'
  body html
end
mail.add_file(filename: spec['pdfName'], content: File.binread(spec['pdfPath']), mime_type: 'application/pdf')
mail.delivery_method :smtp, settings

if ENV['MATRIX_DUMP']
  $stderr.puts mail.encoded
end
response = mail.deliver!
puts "OK #{response.respond_to?(:string) ? response.string : response}"
